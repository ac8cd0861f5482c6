"""BrokerHost: the master serves its engine to worker processes over their pipes.

The master's per-worker reader loop calls ``handle`` with each broker frame; replies and
pushes go out through the process's ``Outlet`` (its end of the pipe) given at ``attach``,
split to fit the pipe's frame limit: an answer too big to send becomes an error answer. A
cache write is answered only after every other process holding a near copy of the key has
dropped it. A process that stops reading gets no more bus messages while more than its
pipe's frame limit of bytes to it are unread; answers, jobs and invalidations still go (the
process asked for them, so they are bounded by what it asked).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Hashable, Mapping
from typing import Protocol, cast

from framework.broker.adapter import BrokerAdapter
from framework.broker.codec import max_value_bytes
from framework.broker.engine import BrokerEngine
from framework.broker.memory import MemoryAdapter
from framework.broker.protocol import (
    KIND,
    BrokerFrame,
    Unsendable,
    encode_batches,
    error_reply,
    frame_limit,
    reply,
)
from framework.broker.queues import Job
from framework.config import FrameworkConfig
from framework.ratelimit import RateLimitedLog

logger = logging.getLogger("framework.broker")
limited_log = RateLimitedLog(logger)

NO_REPLY = object()  # what an operation returns when it answers later, or never


class Outlet(Protocol):
    """One attached process's end of its pipe, as the host writes to it (a Channel)."""

    max_frame_size: int

    @property
    def buffered(self) -> int:
        """Bytes written to the process that it has not read yet."""

    def write(self, message: BrokerFrame) -> None: ...

    def write_payload(self, payload: bytes) -> None: ...


class _RemoteProcess:
    """The engine's peer for one attached process: pushes become frames on its pipe."""

    def __init__(self, key: Hashable, outlet: Outlet) -> None:
        self.key = key
        self.process = f"pipe:{key}"  # its name in the engine
        self._outlet = outlet
        self._ack_ids = itertools.count(1)
        self._awaiting_acks: dict[int, Callable[[], None]] = {}
        self._collected: list[BrokerFrame] | None = None
        self.attached = True

    def collect(self) -> None:
        """Hold what is sent from now on, to go out in batch frames at ``send_collected``."""
        self._collected = []

    def send_collected(self) -> None:
        frames, self._collected = self._collected, None
        if frames:
            self._write(frames)

    def send(self, message: BrokerFrame) -> None:
        if self._collected is not None:
            self._collected.append(message)
        else:
            self._write([message])

    def _write(self, frames: list[BrokerFrame]) -> None:
        if not self.attached:
            return
        payloads, unsendable = encode_batches(frames, self._outlet.max_frame_size)
        try:
            for payload in payloads:
                self._outlet.write_payload(payload)
            for refused in unsendable:
                self._refuse(refused)
        except Exception as error:  # a closing pipe must not break the others' deliveries
            logger.warning("broker could not send to process %s: %s", self.key, error)

    def _refuse(self, refused: Unsendable) -> None:
        """A frame too big to send: an answer becomes an error answer, a push is dropped."""
        request_id = refused.frame.get("re")
        if isinstance(request_id, int):
            self._outlet.write(error_reply(request_id, refused.error))
        else:
            limited_log.warning("unsent", "broker dropped a %r push to process %s: %s",
                                refused.frame.get("p"), self.key, refused.error)

    def deliver_message(self, channel: str, payload: str) -> None:
        """Dropped (logged, rate-limited) while a whole frame's worth to it is unread."""
        unread = self._outlet.buffered
        if unread > self._outlet.max_frame_size:
            limited_log.warning(
                f"backlog {self.key}", "broker dropped bus messages to process %s (channel "
                "%r): %d bytes sent to it are unread, over its %d-byte frame limit; is it "
                "stopped?", self.key, channel, unread, self._outlet.max_frame_size)
            return
        self.send({"k": KIND, "p": "msg", "ch": channel, "v": payload})

    def deliver_job(self, queue: str, consumer: int, job: Job) -> None:
        self.send({"k": KIND, "p": "job", "q": queue, "c": consumer, "j": job.id,
                   "v": job.payload, "n": job.attempt})

    def drop_near_copy(self, key: str, dropped: Callable[[], None]) -> None:
        ack_id = next(self._ack_ids)
        self._awaiting_acks[ack_id] = dropped
        self.send({"k": KIND, "p": "inv", "key": key, "a": ack_id})

    def near_copy_dropped(self, ack_id: int) -> None:
        dropped = self._awaiting_acks.pop(ack_id, None)
        if dropped is not None:
            dropped()

    def detached(self) -> None:
        """Gone: it keeps no copies, so every write waiting for it may proceed."""
        self.attached = False
        awaiting, self._awaiting_acks = self._awaiting_acks, {}
        for dropped in awaiting.values():
            dropped()


class BrokerHost:
    """Serves ``engine`` (default: a new, empty one) to attached processes.

    Their pipes must have ``frame_limit`` as frame limit: it holds the largest value
    ``config`` allows.
    """

    def __init__(self, engine: BrokerEngine | None = None,
                 config: FrameworkConfig | None = None) -> None:
        self.engine = engine if engine is not None else BrokerEngine()
        self.frame_limit = frame_limit(max_value_bytes(config))
        self._processes: dict[Hashable, _RemoteProcess] = {}
        self._operations: dict[str, Callable[[_RemoteProcess, BrokerFrame], object]] = {
            "pub": self._publish, "sub": self._subscribe, "unsub": self._unsubscribe,
            "cget": self._cache_get, "cset": self._write_cache, "cdel": self._write_cache,
            "ack": self._near_copy_dropped, "kget": self._kv_get, "kset": self._kv_set,
            "kdel": self._kv_delete, "kinc": self._kv_increment, "lacq": self._lock_acquire,
            "lrel": self._lock_release, "lheld": self._lock_is_held,
            "lext": self._lock_extend, "qpush": self._produce,
            "qsub": self._consume, "qstop": self._stop_consuming, "qdone": self._finish_job,
            "qretry": self._finish_job, "qdead": self._dead_job, "qstat": self._queue_status,
            "qrdead": self._retry_dead, "qpurge": self._purge,
        }

    @classmethod
    def serving(cls, adapter: BrokerAdapter, config: FrameworkConfig | None = None) -> BrokerHost:
        """A host of this process's broker: the engine of ``adapter`` when it is a memory
        broker (then its own users and the attached processes share it), else a new one."""
        return cls(adapter.engine if isinstance(adapter, MemoryAdapter) else None, config)

    def attach(self, process_key: Hashable, outlet: Outlet) -> None:
        """Serve a process; a key still attached (a replaced worker) is detached first."""
        if process_key in self._processes:
            self.detach(process_key)
        remote = _RemoteProcess(process_key, outlet)
        self._processes[process_key] = remote
        self.engine.attach(remote.process, remote)

    def detach(self, process_key: Hashable) -> None:
        """The process is gone: its locks are free, its jobs in flight go to other consumers."""
        remote = self._processes.pop(process_key, None)
        if remote is None:
            return
        self.engine.detach(remote.process)
        remote.detached()

    def handle(self, process_key: Hashable, message: Mapping[str, object]) -> None:
        """Carry out one broker frame from ``process_key``; bad frames are logged, not fatal.

        ``message`` is JSON as the pipe brought it: its fields are checked where used."""
        remote = self._processes.get(process_key)
        if remote is None:
            logger.warning("broker frame from unattached process %s dropped", process_key)
            return
        frames = message.get("batch")
        if not isinstance(frames, list):
            self._carry_out(remote, cast(BrokerFrame, message))
            return
        remote.collect()
        try:
            for frame in frames:
                if isinstance(frame, dict):
                    self._carry_out(remote, cast(BrokerFrame, frame))
                else:
                    logger.warning("broker frame from process %s dropped: not an object",
                                   process_key)
        finally:
            remote.send_collected()

    def _carry_out(self, remote: _RemoteProcess, message: BrokerFrame) -> None:
        request_id = message.get("id")
        try:
            result = self._operations[message["op"]](remote, message)
        except Exception as error:
            if isinstance(error, KeyError):
                error = ValueError(f"malformed broker frame (missing or unknown {error})")
            logger.warning("broker frame from process %s failed: %s", remote.key, error)
            if isinstance(request_id, int):
                remote.send(error_reply(request_id, error))
            return
        if result is not NO_REPLY and request_id is not None:
            remote.send(reply(request_id, result))

    # operations, one per frame type

    def _publish(self, remote: _RemoteProcess, message: BrokerFrame) -> None:
        self.engine.publish(_text(message, "ch"), _text(message, "v"))

    def _subscribe(self, remote: _RemoteProcess, message: BrokerFrame) -> None:
        self.engine.subscribe(remote.process, _text(message, "ch"))

    def _unsubscribe(self, remote: _RemoteProcess, message: BrokerFrame) -> None:
        self.engine.unsubscribe(remote.process, _text(message, "ch"))

    def _cache_get(self, remote: _RemoteProcess,
                   message: BrokerFrame) -> tuple[str, float | None] | None:
        return self.engine.cache_get(remote.process, _text(message, "key"), near_copy=True)

    def _write_cache(self, remote: _RemoteProcess, message: BrokerFrame) -> object:
        """Answered only once no other process keeps an older near copy of the key."""
        request_id = message["id"]

        def written() -> None:
            remote.send(reply(request_id, None))
        key = _text(message, "key")
        if message["op"] == "cset":
            self.engine.cache_set(remote.process, key, _text(message, "v"), _ttl(message), written)
        else:
            self.engine.cache_delete(remote.process, key, written)
        return NO_REPLY

    def _near_copy_dropped(self, remote: _RemoteProcess, message: BrokerFrame) -> object:
        remote.near_copy_dropped(message["a"])
        return NO_REPLY

    def _kv_get(self, remote: _RemoteProcess, message: BrokerFrame) -> str | None:
        return self.engine.kv_get(_text(message, "key"))

    def _kv_set(self, remote: _RemoteProcess, message: BrokerFrame) -> None:
        self.engine.kv_set(_text(message, "key"), _text(message, "v"), _ttl(message))

    def _kv_delete(self, remote: _RemoteProcess, message: BrokerFrame) -> None:
        self.engine.kv_delete(_text(message, "key"))

    def _kv_increment(self, remote: _RemoteProcess, message: BrokerFrame) -> int | float:
        by = message["by"]
        if isinstance(by, bool) or not isinstance(by, int | float):
            raise TypeError(f"increment by must be a number, got {by!r}")
        return self.engine.kv_increment(_text(message, "key"), by)

    def _lock_acquire(self, remote: _RemoteProcess, message: BrokerFrame) -> str | None:
        ttl = _ttl(message)
        if ttl is None:
            raise ValueError("lock ttl is required")
        return self.engine.lock_acquire(remote.process, _text(message, "name"), ttl)

    def _lock_release(self, remote: _RemoteProcess, message: BrokerFrame) -> bool:
        return self.engine.lock_release(_text(message, "name"), _text(message, "token"))

    def _lock_extend(self, remote: _RemoteProcess, message: BrokerFrame) -> bool:
        ttl = _ttl(message)
        if ttl is None:
            raise ValueError("lock ttl is required")
        return self.engine.lock_extend(_text(message, "name"), _text(message, "token"), ttl)

    def _lock_is_held(self, remote: _RemoteProcess, message: BrokerFrame) -> bool:
        return self.engine.lock_is_held(_text(message, "name"))

    def _produce(self, remote: _RemoteProcess, message: BrokerFrame) -> None:
        delay = message.get("d", 0.0)
        if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
            raise ValueError(f"delay must be seconds >= 0, got {delay!r}")
        self.engine.queue_produce(_text(message, "q"), _text(message, "v"), float(delay))

    def _consume(self, remote: _RemoteProcess, message: BrokerFrame) -> None:
        self.engine.queue_consume(remote.process, _text(message, "q"), int(message["c"]),
                                  max(1, int(message["n"])))

    def _stop_consuming(self, remote: _RemoteProcess, message: BrokerFrame) -> None:
        self.engine.queue_stop(remote.process, _text(message, "q"), int(message["c"]))

    def _finish_job(self, remote: _RemoteProcess, message: BrokerFrame) -> object:
        finish = self.engine.queue_ack if message["op"] == "qdone" else self.engine.queue_retry
        finish(remote.process, _text(message, "q"), int(message["j"]))
        return NO_REPLY

    def _dead_job(self, remote: _RemoteProcess, message: BrokerFrame) -> object:
        self.engine.queue_dead(remote.process, _text(message, "q"), int(message["j"]),
                               _text(message, "err"))
        return NO_REPLY

    def _queue_status(self, remote: _RemoteProcess, message: BrokerFrame) -> object:
        return self.engine.queue_status()

    def _retry_dead(self, remote: _RemoteProcess, message: BrokerFrame) -> int:
        return self.engine.queue_retry_dead(_text(message, "q"))

    def _purge(self, remote: _RemoteProcess, message: BrokerFrame) -> int:
        return self.engine.queue_purge(_text(message, "q"))


def _text(message: Mapping[str, object], field_name: str) -> str:
    value = message[field_name]
    if not isinstance(value, str):
        raise ValueError(f"broker frame field {field_name!r} must be a string, got {value!r}")
    return value


def _ttl(message: BrokerFrame) -> float | None:
    ttl = message.get("ttl")
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
        raise ValueError(f"ttl must be seconds > 0, got {ttl!r}")
    return float(ttl)
