"""BrokerHost: the master serves its engine to worker processes over their pipes.

The master's per-worker reader loop calls ``handle`` with each ``"b"`` frame; replies and
pushes go out through the ``send`` callback given at ``attach``. A cache write is answered
only after every other process holding a near copy of the key has dropped it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from framework.broker.engine import BrokerEngine
from framework.broker.protocol import KIND, error_reply, reply
from framework.broker.queues import Job

logger = logging.getLogger("framework.broker")

Send = Callable[[dict[str, Any]], None]


class _RemoteProcess:
    """The engine's peer for one attached process: pushes become frames on its pipe."""

    def __init__(self, key: Hashable, send: Send) -> None:
        self.key = key
        self._send = send

    def send(self, message: dict[str, Any]) -> None:
        try:
            self._send(message)
        except Exception as error:  # a closing pipe must not break the others' deliveries
            logger.warning("broker could not send to process %s: %s", self.key, error)

    def deliver_message(self, channel: str, payload: str) -> None:
        self.send({"k": KIND, "p": "msg", "ch": channel, "v": payload})

    def deliver_job(self, queue: str, consumer: int, job: Job) -> None:
        self.send({"k": KIND, "p": "job", "q": queue, "c": consumer, "j": job.id,
                   "v": job.payload, "n": job.attempt})


@dataclass
class _PendingWrite:
    """A cache write waiting for near copies to be dropped before it is answered."""

    writer: Hashable
    request_id: int
    waiting: set[Hashable] = field(default_factory=set)


class BrokerHost:
    """Serves ``engine`` (default: this process's own) to attached processes."""

    def __init__(self, engine: BrokerEngine | None = None) -> None:
        if engine is None:
            from framework.broker.selection import local_engine
            engine = local_engine()
        self.engine = engine
        self._processes: dict[Hashable, _RemoteProcess] = {}
        self._by_engine_key: dict[str, Hashable] = {}
        self._pending_writes: dict[int, _PendingWrite] = {}
        self._ack_ids = itertools.count(1)
        self._operations: dict[str, Callable[[Hashable, dict[str, Any]], Any]] = {
            "pub": self._publish, "sub": self._subscribe, "unsub": self._unsubscribe,
            "cget": self._cache_get, "kget": self._kv_get, "kset": self._kv_set,
            "kdel": self._kv_delete, "kinc": self._kv_increment, "lacq": self._lock_acquire,
            "lrel": self._lock_release, "lheld": self._lock_is_held, "qpush": self._produce,
            "qsub": self._consume, "qstop": self._stop_consuming,
        }

    def attach(self, process_key: Hashable, send: Send) -> None:
        """Serve a process; a key still attached (a replaced worker) is detached first."""
        if process_key in self._processes:
            self.detach(process_key)
        remote = _RemoteProcess(process_key, send)
        self._processes[process_key] = remote
        self._by_engine_key[_engine_key(process_key)] = process_key
        self.engine.attach(_engine_key(process_key), remote)

    def detach(self, process_key: Hashable) -> None:
        """The process is gone: its locks are free, its jobs in flight go to other consumers."""
        if self._processes.pop(process_key, None) is None:
            return
        del self._by_engine_key[_engine_key(process_key)]
        self.engine.detach(_engine_key(process_key))
        for ack_id, write in list(self._pending_writes.items()):
            if write.writer == process_key:
                del self._pending_writes[ack_id]
            else:
                self._drop_waiting(ack_id, process_key)

    def handle(self, process_key: Hashable, message: dict[str, Any]) -> None:
        """Carry out one ``"b"`` frame from ``process_key``; bad frames are logged, not fatal."""
        remote = self._processes.get(process_key)
        if remote is None:
            logger.warning("broker frame from unattached process %s dropped", process_key)
            return
        request_id = message.get("id")
        try:
            op = message["op"]
            if op in ("cset", "cdel"):
                self._write_cache(process_key, request_id, message)
                return
            if op == "ack":
                self._drop_waiting(message["a"], process_key)
                return
            if op in ("qdone", "qretry"):
                self._finish_job(process_key, message)
                return
            result = self._operations[op](process_key, message)
        except Exception as error:
            if isinstance(error, KeyError):
                error = ValueError(f"malformed broker frame (missing or unknown {error})")
            logger.warning("broker frame from process %s failed: %s", process_key, error)
            if isinstance(request_id, int):
                remote.send(error_reply(request_id, error))
            return
        if request_id is not None:
            remote.send(reply(request_id, result))

    # operations, one per frame type

    def _publish(self, process: Hashable, message: dict[str, Any]) -> None:
        self.engine.publish(_text(message, "ch"), _text(message, "v"))

    def _subscribe(self, process: Hashable, message: dict[str, Any]) -> None:
        self.engine.subscribe(_engine_key(process), _text(message, "ch"))

    def _unsubscribe(self, process: Hashable, message: dict[str, Any]) -> None:
        self.engine.unsubscribe(_engine_key(process), _text(message, "ch"))

    def _cache_get(self, process: Hashable, message: dict[str, Any]) -> Any:
        return self.engine.cache_get(_engine_key(process), _text(message, "key"), near_copy=True)

    def _write_cache(self, process: Hashable, request_id: Any, message: dict[str, Any]) -> None:
        key = _text(message, "key")
        if message["op"] == "cset":
            holders = self.engine.cache_set(_engine_key(process), key, _text(message, "v"),
                                            _ttl(message))
        else:
            holders = self.engine.cache_delete(_engine_key(process), key)
        waiting = {self._by_engine_key[holder] for holder in holders
                   if holder in self._by_engine_key}
        if not waiting:
            self._processes[process].send(reply(request_id, None))
            return
        ack_id = next(self._ack_ids)
        self._pending_writes[ack_id] = _PendingWrite(process, request_id, waiting)
        for holder in waiting:
            self._processes[holder].send({"k": KIND, "p": "inv", "key": key, "a": ack_id})

    def _drop_waiting(self, ack_id: Any, process: Hashable) -> None:
        write = self._pending_writes.get(ack_id)
        if write is None:
            return
        write.waiting.discard(process)
        if not write.waiting:
            del self._pending_writes[ack_id]
            self._processes[write.writer].send(reply(write.request_id, None))

    def _kv_get(self, process: Hashable, message: dict[str, Any]) -> str | None:
        return self.engine.kv_get(_text(message, "key"))

    def _kv_set(self, process: Hashable, message: dict[str, Any]) -> None:
        self.engine.kv_set(_text(message, "key"), _text(message, "v"), _ttl(message))

    def _kv_delete(self, process: Hashable, message: dict[str, Any]) -> None:
        self.engine.kv_delete(_text(message, "key"))

    def _kv_increment(self, process: Hashable, message: dict[str, Any]) -> int | float:
        by = message["by"]
        if isinstance(by, bool) or not isinstance(by, int | float):
            raise TypeError(f"increment by must be a number, got {by!r}")
        return self.engine.kv_increment(_text(message, "key"), by)

    def _lock_acquire(self, process: Hashable, message: dict[str, Any]) -> str | None:
        ttl = _ttl(message)
        if ttl is None:
            raise ValueError("lock ttl is required")
        return self.engine.lock_acquire(_engine_key(process), _text(message, "name"), ttl)

    def _lock_release(self, process: Hashable, message: dict[str, Any]) -> bool:
        return self.engine.lock_release(_text(message, "name"), _text(message, "token"))

    def _lock_is_held(self, process: Hashable, message: dict[str, Any]) -> bool:
        return self.engine.lock_is_held(_text(message, "name"))

    def _produce(self, process: Hashable, message: dict[str, Any]) -> None:
        self.engine.queue_produce(_text(message, "q"), _text(message, "v"))

    def _consume(self, process: Hashable, message: dict[str, Any]) -> None:
        self.engine.queue_consume(_engine_key(process), _text(message, "q"), int(message["c"]),
                                  max(1, int(message["n"])))

    def _stop_consuming(self, process: Hashable, message: dict[str, Any]) -> None:
        self.engine.queue_stop(_engine_key(process), _text(message, "q"), int(message["c"]))

    def _finish_job(self, process: Hashable, message: dict[str, Any]) -> None:
        finish = self.engine.queue_ack if message["op"] == "qdone" else self.engine.queue_retry
        finish(_engine_key(process), _text(message, "q"), int(message["j"]))


def _engine_key(process_key: Hashable) -> str:
    return f"pipe:{process_key}"


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
