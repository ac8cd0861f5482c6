"""BrokerHost: the master serves its engine to worker processes over their pipes.

The master's per-worker reader loop calls ``handle`` with each ``"b"`` frame; replies and
pushes go out through the ``send`` callback given at ``attach``. A cache write is answered
only after every other process holding a near copy of the key has dropped it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Hashable
from typing import Any

from framework.broker.engine import BrokerEngine
from framework.broker.protocol import KIND, batch, error_reply, reply
from framework.broker.queues import Job

logger = logging.getLogger("framework.broker")

Send = Callable[[dict[str, Any]], None]
NO_REPLY = object()  # what an operation returns when it answers later, or never


class _RemoteProcess:
    """The engine's peer for one attached process: pushes become frames on its pipe."""

    def __init__(self, key: Hashable, send: Send) -> None:
        self.key = key
        self.process = f"pipe:{key}"  # its name in the engine
        self._send = send
        self._ack_ids = itertools.count(1)
        self._awaiting_acks: dict[int, Callable[[], None]] = {}
        self._collected: list[dict[str, Any]] | None = None
        self.attached = True

    def collect(self) -> None:
        """Hold what is sent from now on, to go out as one batch frame at ``send_collected``."""
        self._collected = []

    def send_collected(self) -> None:
        frames, self._collected = self._collected, None
        if frames:
            self.send(batch(frames))

    def send(self, message: dict[str, Any]) -> None:
        if self._collected is not None:
            self._collected.append(message)
            return
        if not self.attached:
            return
        try:
            self._send(message)
        except Exception as error:  # a closing pipe must not break the others' deliveries
            logger.warning("broker could not send to process %s: %s", self.key, error)

    def deliver_message(self, channel: str, payload: str) -> None:
        self.send({"k": KIND, "p": "msg", "ch": channel, "v": payload})

    def deliver_job(self, queue: str, consumer: int, job: Job) -> None:
        self.send({"k": KIND, "p": "job", "q": queue, "c": consumer, "j": job.id,
                   "v": job.payload, "n": job.attempt})

    def drop_near_copy(self, key: str, dropped: Callable[[], None]) -> None:
        ack_id = next(self._ack_ids)
        self._awaiting_acks[ack_id] = dropped
        self.send({"k": KIND, "p": "inv", "key": key, "a": ack_id})

    def near_copy_dropped(self, ack_id: Any) -> None:
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
    """Serves ``engine`` (default: this process's own) to attached processes."""

    def __init__(self, engine: BrokerEngine | None = None) -> None:
        if engine is None:
            from framework.broker.selection import local_engine
            engine = local_engine()
        self.engine = engine
        self._processes: dict[Hashable, _RemoteProcess] = {}
        self._operations: dict[str, Callable[[_RemoteProcess, dict[str, Any]], Any]] = {
            "pub": self._publish, "sub": self._subscribe, "unsub": self._unsubscribe,
            "cget": self._cache_get, "cset": self._write_cache, "cdel": self._write_cache,
            "ack": self._near_copy_dropped, "kget": self._kv_get, "kset": self._kv_set,
            "kdel": self._kv_delete, "kinc": self._kv_increment, "lacq": self._lock_acquire,
            "lrel": self._lock_release, "lheld": self._lock_is_held, "qpush": self._produce,
            "qsub": self._consume, "qstop": self._stop_consuming, "qdone": self._finish_job,
            "qretry": self._finish_job,
        }

    def attach(self, process_key: Hashable, send: Send) -> None:
        """Serve a process; a key still attached (a replaced worker) is detached first."""
        if process_key in self._processes:
            self.detach(process_key)
        remote = _RemoteProcess(process_key, send)
        self._processes[process_key] = remote
        self.engine.attach(remote.process, remote)

    def detach(self, process_key: Hashable) -> None:
        """The process is gone: its locks are free, its jobs in flight go to other consumers."""
        remote = self._processes.pop(process_key, None)
        if remote is None:
            return
        self.engine.detach(remote.process)
        remote.detached()

    def handle(self, process_key: Hashable, message: dict[str, Any]) -> None:
        """Carry out one ``"b"`` frame from ``process_key``; bad frames are logged, not fatal."""
        remote = self._processes.get(process_key)
        if remote is None:
            logger.warning("broker frame from unattached process %s dropped", process_key)
            return
        frames = message.get("batch")
        if not isinstance(frames, list):
            self._carry_out(remote, message)
            return
        remote.collect()
        try:
            for frame in frames:
                if isinstance(frame, dict):
                    self._carry_out(remote, frame)
                else:
                    logger.warning("broker frame from process %s dropped: not an object",
                                   process_key)
        finally:
            remote.send_collected()

    def _carry_out(self, remote: _RemoteProcess, message: dict[str, Any]) -> None:
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

    def _publish(self, remote: _RemoteProcess, message: dict[str, Any]) -> None:
        self.engine.publish(_text(message, "ch"), _text(message, "v"))

    def _subscribe(self, remote: _RemoteProcess, message: dict[str, Any]) -> None:
        self.engine.subscribe(remote.process, _text(message, "ch"))

    def _unsubscribe(self, remote: _RemoteProcess, message: dict[str, Any]) -> None:
        self.engine.unsubscribe(remote.process, _text(message, "ch"))

    def _cache_get(self, remote: _RemoteProcess, message: dict[str, Any]) -> Any:
        return self.engine.cache_get(remote.process, _text(message, "key"), near_copy=True)

    def _write_cache(self, remote: _RemoteProcess, message: dict[str, Any]) -> object:
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

    def _near_copy_dropped(self, remote: _RemoteProcess, message: dict[str, Any]) -> object:
        remote.near_copy_dropped(message["a"])
        return NO_REPLY

    def _kv_get(self, remote: _RemoteProcess, message: dict[str, Any]) -> str | None:
        return self.engine.kv_get(_text(message, "key"))

    def _kv_set(self, remote: _RemoteProcess, message: dict[str, Any]) -> None:
        self.engine.kv_set(_text(message, "key"), _text(message, "v"), _ttl(message))

    def _kv_delete(self, remote: _RemoteProcess, message: dict[str, Any]) -> None:
        self.engine.kv_delete(_text(message, "key"))

    def _kv_increment(self, remote: _RemoteProcess, message: dict[str, Any]) -> int | float:
        by = message["by"]
        if isinstance(by, bool) or not isinstance(by, int | float):
            raise TypeError(f"increment by must be a number, got {by!r}")
        return self.engine.kv_increment(_text(message, "key"), by)

    def _lock_acquire(self, remote: _RemoteProcess, message: dict[str, Any]) -> str | None:
        ttl = _ttl(message)
        if ttl is None:
            raise ValueError("lock ttl is required")
        return self.engine.lock_acquire(remote.process, _text(message, "name"), ttl)

    def _lock_release(self, remote: _RemoteProcess, message: dict[str, Any]) -> bool:
        return self.engine.lock_release(_text(message, "name"), _text(message, "token"))

    def _lock_is_held(self, remote: _RemoteProcess, message: dict[str, Any]) -> bool:
        return self.engine.lock_is_held(_text(message, "name"))

    def _produce(self, remote: _RemoteProcess, message: dict[str, Any]) -> None:
        self.engine.queue_produce(_text(message, "q"), _text(message, "v"))

    def _consume(self, remote: _RemoteProcess, message: dict[str, Any]) -> None:
        self.engine.queue_consume(remote.process, _text(message, "q"), int(message["c"]),
                                  max(1, int(message["n"])))

    def _stop_consuming(self, remote: _RemoteProcess, message: dict[str, Any]) -> None:
        self.engine.queue_stop(remote.process, _text(message, "q"), int(message["c"]))

    def _finish_job(self, remote: _RemoteProcess, message: dict[str, Any]) -> object:
        finish = self.engine.queue_ack if message["op"] == "qdone" else self.engine.queue_retry
        finish(remote.process, _text(message, "q"), int(message["j"]))
        return NO_REPLY


def _text(message: dict[str, Any], field_name: str) -> str:
    value = message[field_name]
    if not isinstance(value, str):
        raise ValueError(f"broker frame field {field_name!r} must be a string, got {value!r}")
    return value


def _ttl(message: dict[str, Any]) -> float | None:
    ttl = message.get("ttl")
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
        raise ValueError(f"ttl must be seconds > 0, got {ttl!r}")
    return float(ttl)
