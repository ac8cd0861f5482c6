"""The broker's state: channels, cache, key-values, locks and queues, shared by processes.

Plain synchronous state with one method per operation and no I/O: the memory adapter calls
it directly, the master's BrokerHost calls it for its workers. Each process using it is
attached under a key with an ``EnginePeer`` that receives what is pushed to that process
(bus messages, queue jobs); detaching a process drops everything it held.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from framework.broker.codec import decode, encode
from framework.broker.queues import (
    DEAD_SUFFIX,
    Job,
    JobQueue,
    dead_message,
    dead_queue,
    dead_record,
)

Number = int | float


class EnginePeer(Protocol):
    """What the engine pushes to one attached process."""

    def deliver_message(self, channel: str, payload: str) -> None: ...

    def deliver_job(self, queue: str, consumer: int, job: Job) -> None: ...

    def drop_near_copy(self, key: str, dropped: Callable[[], None]) -> None:
        """Make the process drop its copy of ``key``; call ``dropped()`` once it has."""


@dataclass
class _Entry:
    payload: str
    expires_at: float | None


@dataclass
class _Lock:
    process: str
    token: str
    expires_at: float


class ExpiringStore:
    """Key -> JSON text with an optional ttl; expired entries vanish on access and in sweeps."""

    SWEEP_EVERY = 1.0

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._next_sweep = clock() + self.SWEEP_EVERY

    def get(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at is not None and entry.expires_at <= self._clock():
            del self._entries[key]
            return None
        return entry

    def set(self, key: str, payload: str, ttl: float | None) -> None:
        now = self._clock()
        self._entries[key] = _Entry(payload, None if ttl is None else now + ttl)
        if now >= self._next_sweep:
            self._sweep(now)

    def delete(self, key: str) -> bool:
        return self._entries.pop(key, None) is not None

    def remaining(self, entry: _Entry) -> float | None:
        """Seconds ``entry`` has left, None when it never expires."""
        return None if entry.expires_at is None else max(0.0, entry.expires_at - self._clock())

    def _sweep(self, now: float) -> None:
        expired = [key for key, entry in self._entries.items()
                   if entry.expires_at is not None and entry.expires_at <= now]
        for key in expired:
            del self._entries[key]
        self._next_sweep = now + self.SWEEP_EVERY


class BrokerEngine:
    """Every process's shared broker state; see the module docstring."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._peers: dict[str, EnginePeer] = {}
        self._channels: dict[str, set[str]] = {}
        self._cache = ExpiringStore(clock)
        self._near_copies: dict[str, set[str]] = {}
        self._values = ExpiringStore(clock)
        self._locks: dict[str, _Lock] = {}
        self._queues: dict[str, JobQueue] = {}
        self._delayed: dict[str, dict[int, Job]] = {}

    # processes

    def attach(self, process: str, peer: EnginePeer) -> None:
        if process in self._peers:
            raise ValueError(f"broker process {process!r} is already attached")
        self._peers[process] = peer

    def detach(self, process: str) -> None:
        """Forget ``process``: its subscriptions, near copies, locks and consumers go; its
        unacknowledged jobs are delivered again to other consumers."""
        self._peers.pop(process, None)
        for subscribers in self._channels.values():
            subscribers.discard(process)
        self._channels = {name: subs for name, subs in self._channels.items() if subs}
        for holders in self._near_copies.values():
            holders.discard(process)
        self._near_copies = {key: holders for key, holders in self._near_copies.items()
                             if holders}
        self._locks = {name: lock for name, lock in self._locks.items()
                       if lock.process != process}
        for name, queue in self._queues.items():
            queue.drop_process(process)
            self._dispatch(name)

    def _require(self, process: str) -> None:
        """What a process holds must go when it detaches, so it must be attached to hold it."""
        if process not in self._peers:
            raise ValueError(f"broker process {process!r} is not attached (it left the broker)")

    # bus

    def subscribe(self, process: str, channel: str) -> None:
        self._require(process)
        self._channels.setdefault(channel, set()).add(process)

    def unsubscribe(self, process: str, channel: str) -> None:
        subscribers = self._channels.get(channel)
        if subscribers is not None:
            subscribers.discard(process)
            if not subscribers:
                del self._channels[channel]

    def publish(self, channel: str, payload: str) -> None:
        """Push ``payload`` to every process subscribed to ``channel``."""
        for process in self._channels.get(channel, ()):
            self._peers[process].deliver_message(channel, payload)

    # cache

    def cache_get(self, process: str, key: str,
                  near_copy: bool = False) -> tuple[str, float | None] | None:
        """(payload, seconds left) or None; ``near_copy`` records that ``process`` keeps it."""
        entry = self._cache.get(key)
        if entry is None:
            self._near_copies.pop(key, None)  # expired: no process may keep a copy of it
            return None
        if near_copy:
            self._require(process)
            self._near_copies.setdefault(key, set()).add(process)
        return entry.payload, self._cache.remaining(entry)

    def cache_set(self, process: str, key: str, payload: str, ttl: float | None,
                  written: Callable[[], None]) -> None:
        """Store; ``written()`` is called once no other process keeps an older near copy."""
        self._cache.set(key, payload, ttl)
        self._invalidate_near_copies(process, key, written)

    def cache_delete(self, process: str, key: str, written: Callable[[], None]) -> None:
        self._cache.delete(key)
        self._invalidate_near_copies(process, key, written)

    def _invalidate_near_copies(self, writer: str, key: str,
                                written: Callable[[], None]) -> None:
        holders = [self._peers[process] for process in self._near_copies.pop(key, ())
                   if process != writer and process in self._peers]
        remaining = len(holders)

        def dropped() -> None:
            nonlocal remaining
            remaining -= 1
            if remaining == 0:
                written()
        if not holders:
            written()
        for peer in holders:
            peer.drop_near_copy(key, dropped)

    # key-values

    def kv_get(self, key: str) -> str | None:
        entry = self._values.get(key)
        return None if entry is None else entry.payload

    def kv_set(self, key: str, payload: str, ttl: float | None = None) -> None:
        self._values.set(key, payload, ttl)

    def kv_delete(self, key: str) -> None:
        self._values.delete(key)

    def kv_increment(self, key: str, by: Number = 1) -> Number:
        """Add ``by`` to the number at ``key`` (0 when absent) and return the sum; keeps ttl."""
        entry = self._values.get(key)
        current = 0 if entry is None else _number_from(entry.payload, key)
        total = current + by
        if entry is None:
            self._values.set(key, _number_text(total), None)
        else:
            entry.payload = _number_text(total)
        return total

    # locks

    def lock_acquire(self, process: str, name: str, ttl: float) -> str | None:
        """A token proving ownership of lock ``name`` for ``ttl`` seconds, or None when held."""
        self._require(process)
        now = self._clock()
        held = self._locks.get(name)
        if held is not None and held.expires_at > now:
            return None
        token = secrets.token_hex(8)
        self._locks[name] = _Lock(process, token, now + ttl)
        return token

    def lock_release(self, name: str, token: str) -> bool:
        """Release ``name`` if ``token`` still owns it; False when it expired or moved on."""
        held = self._locks.get(name)
        if held is None or held.token != token:
            return False
        del self._locks[name]
        return held.expires_at > self._clock()

    def lock_extend(self, name: str, token: str, ttl: float) -> bool:
        """Give ``token``'s hold on ``name`` ``ttl`` more seconds from now; False when it
        expired or moved on (then the caller holds nothing)."""
        held = self._locks.get(name)
        now = self._clock()
        if held is None or held.token != token or held.expires_at <= now:
            return False
        held.expires_at = now + ttl
        return True

    def lock_is_held(self, name: str) -> bool:
        held = self._locks.get(name)
        return held is not None and held.expires_at > self._clock()

    # queues

    def queue_produce(self, queue: str, payload: str, delay: float = 0.0) -> None:
        """Queue a job; with ``delay`` (seconds) it waits that long before it can be taken
        (needs a running event loop, whose timer releases it)."""
        if delay <= 0:
            self._queue(queue).add(payload)
            self._dispatch(queue)
            return
        self._queue(queue)
        job = Job(payload)
        self._delayed.setdefault(queue, {})[job.id] = job
        asyncio.get_running_loop().call_later(delay, self._release, queue, job.id)

    def _release(self, queue: str, job_id: int) -> None:
        """A delayed job is due (unless purged meanwhile): it joins the waiting ones."""
        job = self._delayed.get(queue, {}).pop(job_id, None)
        if job is not None:
            self._queue(queue).add_job(job)
            self._dispatch(queue)

    def queue_consume(self, process: str, queue: str, consumer: int, max_parallel: int) -> None:
        self._require(process)
        self._queue(queue).add_consumer(process, consumer, max_parallel)
        self._dispatch(queue)

    def queue_stop(self, process: str, queue: str, consumer: int) -> None:
        self._queue(queue).remove_consumer(process, consumer)

    def queue_ack(self, process: str, queue: str, job_id: int) -> None:
        """The job's handler finished: it is gone for good."""
        self._queue(queue).finish(process, job_id)
        self._dispatch(queue)

    def queue_retry(self, process: str, queue: str, job_id: int) -> None:
        """The job's handler raised: deliver it again, after the jobs already waiting."""
        self._queue(queue).retry(process, job_id)
        self._dispatch(queue)

    def queue_dead(self, process: str, queue: str, job_id: int, error: str) -> None:
        """The job used up its attempts: its dead letter goes to ``<queue>.dead``."""
        job = self._queue(queue).take(process, job_id)
        if job is not None:
            dead = dead_queue(queue)
            self._queue(dead).add(dead_record(job.payload, job.attempt, error))
            self._dispatch(dead)
        self._dispatch(queue)

    def queue_status(self) -> dict[str, dict[str, int]]:
        """Per queue: jobs waiting, delayed, running (taken, not yet acked) and dead."""
        status: dict[str, dict[str, int]] = {}
        for name, queue in self._queues.items():
            if name.endswith(DEAD_SUFFIX):
                continue
            dead = self._queues.get(dead_queue(name))
            status[name] = {"waiting": queue.waiting, "delayed": len(self._delayed.get(name, {})),
                            "running": queue.running, "dead": 0 if dead is None else dead.waiting}
        return status

    def queue_retry_dead(self, queue: str) -> int:
        """Put the dead letters of ``queue`` back on it as new jobs; how many."""
        records = self._queue(dead_queue(queue)).take_waiting()
        target = self._queue(queue)
        for record in records:
            target.add(dead_message(record.payload))
        self._dispatch(queue)
        return len(records)

    def queue_purge(self, queue: str) -> int:
        """Drop the waiting, delayed and dead jobs of ``queue``; how many."""
        dropped = len(self._queue(queue).take_waiting())
        dropped += len(self._delayed.pop(queue, {}))
        return dropped + len(self._queue(dead_queue(queue)).take_waiting())

    def _queue(self, name: str) -> JobQueue:
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = JobQueue()
        return queue

    def _dispatch(self, name: str) -> None:
        for process, consumer, job in self._queues[name].assign():
            self._peers[process].deliver_job(name, consumer, job)


def _number_from(payload: str, key: str) -> Number:
    value = decode(payload)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"cannot increment key {key!r}: it holds {payload[:40]}, not a number")
    return value


def _number_text(value: Number) -> str:
    return encode(value)
