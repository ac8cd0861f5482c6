"""BrokerCache, BrokerKeyValue, BrokerLock and BrokerQueue: async facades over an adapter.

Every facade encodes values at the call, so a value that is not JSON (TypeError) or is over
``broker_max_value_mb`` (ValueError) fails before anything is sent, whatever the adapter.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Generator
from typing import Any, ClassVar

from framework.broker.adapter import BrokerAdapter, Number, StopConsuming
from framework.broker.codec import check_name, decode, encode, max_value_bytes
from framework.config import FrameworkConfig
from framework.errors import FrameworkError
from framework.metrics import Metrics

DEFAULT_LOCK_TTL = 60.0
BUILD_LOCK_TTL = 60.0


class LockTimeout(FrameworkError, TimeoutError):
    """The lock was still held by someone else when the timeout ran out."""


def _check_ttl(ttl: object, what: str, optional: bool = True) -> float | None:
    if ttl is None and optional:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
        raise ValueError(f"{what} must be a number of seconds > 0, got {ttl!r}")
    return float(ttl)


async def _call(function: Callable[..., object], *args: object) -> object:
    """``function(*args)``, awaited when it returns an awaitable (an async function)."""
    result = function(*args)
    return await result if inspect.isawaitable(result) else result


class Operations:
    """fw_broker_operations_total of one kind of facade (bus, cache, kv, lock, queue)."""

    def __init__(self, kind: str, metrics: Metrics | None) -> None:
        self._kind = kind
        self._counter = None if metrics is None else metrics.counter(
            "fw_broker_operations_total", "Broker calls made, by facade and operation",
            ("kind", "operation"))

    def count(self, operation: str) -> None:
        if self._counter is not None:
            self._counter.labels(self._kind, operation).inc()


class BrokerFacade:
    """What every facade holds: this process's adapter, how big a value may be, and the
    count of its calls (``kind`` is the facade's metrics label)."""

    kind: ClassVar[str]

    def __init__(self, adapter: BrokerAdapter, config: FrameworkConfig | None = None,
                 metrics: Metrics | None = None) -> None:
        self._adapter = adapter
        self._max_value_bytes = max_value_bytes(config)
        self._operations = Operations(self.kind, metrics)

    def _encode(self, value: object, what: str) -> str:
        """``value`` as JSON text: TypeError if it is not JSON, ValueError if it is too big."""
        return encode(value, what, self._max_value_bytes)


class HeldLock:
    """A lock this caller owns until ``release()`` (or the end of ``async with``) or its ttl."""

    def __init__(self, adapter: BrokerAdapter, name: str, token: str) -> None:
        self.name = name
        self._adapter = adapter
        self._token = token

    async def release(self) -> bool:
        """Give the lock back; False when its ttl had already ended."""
        return await self._adapter.lock_release(self.name, self._token)

    async def extend(self, ttl: float) -> bool:
        """Hold it ``ttl`` more seconds from now, without letting go in between (a lease's
        renewal); False when its ttl had already ended and the caller holds nothing."""
        if ttl <= 0:
            raise ValueError(f"lock ttl must be seconds > 0, got {ttl!r}")
        return await self._adapter.lock_extend(self.name, self._token, ttl)

    async def __aenter__(self) -> HeldLock:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.release()


class _LockRequest:
    """What ``BrokerLock.lock`` returns: ``async with`` it, or await it for a HeldLock."""

    def __init__(self, locks: BrokerLock, name: str, ttl: float, timeout: float | None) -> None:
        self._locks, self._name, self._ttl, self._timeout = locks, name, ttl, timeout
        self._held: HeldLock | None = None

    def __await__(self) -> Generator[object, None, HeldLock]:
        return self._locks._wait_for(self._name, self._ttl, self._timeout).__await__()

    async def __aenter__(self) -> HeldLock:
        self._held = await self._locks._wait_for(self._name, self._ttl, self._timeout)
        return self._held

    async def __aexit__(self, *exc_info: object) -> None:
        if self._held is not None:
            await self._held.release()


class BrokerLock:
    """Named locks across processes; released by the holder, its process's death, or ttl."""

    MIN_POLL, MAX_POLL = 0.001, 0.05

    def __init__(self, adapter: BrokerAdapter, metrics: Metrics | None = None) -> None:
        self._adapter = adapter
        self._operations = Operations("lock", metrics)

    def lock(self, name: str, ttl: float = DEFAULT_LOCK_TTL,
             timeout: float | None = None) -> _LockRequest:
        """Wait for ``name`` (forever when ``timeout`` is None); LockTimeout after ``timeout``."""
        check_name(name, "lock name")
        _check_ttl(ttl, "lock ttl", optional=False)
        if timeout is not None and (not isinstance(timeout, int | float) or timeout < 0):
            raise ValueError(f"lock timeout must be seconds >= 0 or None, got {timeout!r}")
        self._operations.count("lock")
        return _LockRequest(self, name, ttl, timeout)

    async def try_lock(self, name: str, ttl: float = DEFAULT_LOCK_TTL) -> HeldLock | None:
        """The lock if it is free now, else None."""
        check_name(name, "lock name")
        _check_ttl(ttl, "lock ttl", optional=False)
        self._operations.count("try_lock")
        return await self._acquire(name, ttl)

    async def _acquire(self, name: str, ttl: float) -> HeldLock | None:
        token = await self._adapter.lock_acquire(name, ttl)
        return None if token is None else HeldLock(self._adapter, name, token)

    async def is_locked(self, name: str) -> bool:
        check_name(name, "lock name")
        self._operations.count("is_locked")
        return await self._adapter.lock_is_held(name)

    async def _wait_for(self, name: str, ttl: float, timeout: float | None) -> HeldLock:
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = self.MIN_POLL
        while (held := await self._acquire(name, ttl)) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise LockTimeout(f"lock {name!r} was still held by another owner after "
                                  f"{timeout}s")
            wait = pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic()))
            await asyncio.sleep(wait)
            pause = min(pause * 2, self.MAX_POLL)
        return held


class BrokerCache(BrokerFacade):
    """Shared cache with ttl; each process keeps a near copy that writes invalidate."""

    kind = "cache"

    def __init__(self, adapter: BrokerAdapter, config: FrameworkConfig | None = None,
                 metrics: Metrics | None = None) -> None:
        super().__init__(adapter, config, metrics)
        self._locks = BrokerLock(adapter)

    async def get(self, key: str) -> Any:
        """The value, or None when absent or expired."""
        check_name(key, "cache key")
        self._operations.count("get")
        payload = await self._adapter.cache_get(key)
        return None if payload is None else decode(payload)

    async def set(self, key: str, value: object, ttl: float | None = None) -> None:
        """Store ``value`` for ``ttl`` seconds (None: until deleted)."""
        check_name(key, "cache key")
        ttl = _check_ttl(ttl, "cache ttl")
        self._operations.count("set")
        await self._adapter.cache_set(key, self._encode(value, f"cache value for {key!r}"), ttl)

    async def delete(self, key: str) -> None:
        check_name(key, "cache key")
        self._operations.count("delete")
        await self._adapter.cache_delete(key)

    async def get_or_set(self, key: str, build: Callable[[], object],
                         ttl: float | None = None) -> Any:
        """The cached value, or ``build()``'s (sync or async), stored with ``ttl``.

        Processes asking at once wait for one builder instead of each running ``build``.
        """
        check_name(key, "cache key")
        ttl = _check_ttl(ttl, "cache ttl")
        self._operations.count("get_or_set")
        payload = await self._adapter.cache_get(key)
        if payload is None:
            async with self._locks.lock(f"fw.cache.build:{key}", ttl=BUILD_LOCK_TTL):
                payload = await self._adapter.cache_get(key, fresh=True)
                if payload is None:
                    payload = self._encode(await _call(build), f"cache value for {key!r}")
                    await self._adapter.cache_set(key, payload, ttl)
        return decode(payload)


class BrokerKeyValue(BrokerFacade):
    """Shared key-values; ``increment`` is atomic across processes."""

    kind = "kv"

    async def get(self, key: str) -> Any:
        check_name(key, "key")
        self._operations.count("get")
        payload = await self._adapter.kv_get(key)
        return None if payload is None else decode(payload)

    async def set(self, key: str, value: object, ttl: float | None = None) -> None:
        check_name(key, "key")
        ttl = _check_ttl(ttl, "key-value ttl")
        self._operations.count("set")
        await self._adapter.kv_set(key, self._encode(value, f"value for key {key!r}"), ttl)

    async def delete(self, key: str) -> None:
        check_name(key, "key")
        self._operations.count("delete")
        await self._adapter.kv_delete(key)

    async def increment(self, key: str, by: Number = 1) -> Number:
        """Add ``by`` (int or float) to the number at ``key`` (0 when absent); the new value."""
        check_name(key, "key")
        if isinstance(by, bool) or not isinstance(by, int | float):
            raise TypeError(f"increment of key {key!r}: by must be an int or float, got {by!r}")
        self._operations.count("increment")
        return await self._adapter.kv_increment(key, by)


class QueueConsumer:
    """A running consumer; ``stop()`` takes no more jobs and waits for the running ones."""

    def __init__(self, queue: str, stop: StopConsuming) -> None:
        self.queue = queue
        self._stop = stop

    async def stop(self) -> None:
        await self._stop()


def _check_count(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be an int >= 1, got {value!r}")


class BrokerQueue(BrokerFacade):
    """Job queues: each message goes to one consumer; failed ones come back until they have
    used up their attempts (then their dead letter goes to ``<name>.dead``), orphaned ones
    (their consumer's process died) come back."""

    kind = "queue"

    async def produce(self, queue: str, message: object, delay: float = 0) -> None:
        """Queue ``message``; with ``delay`` it is held back that many seconds."""
        check_name(queue, "queue name")
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not delay >= 0:
            raise ValueError(f"delay must be a number of seconds >= 0, got {delay!r}")
        self._operations.count("produce")
        await self._adapter.produce(
            queue, self._encode(message, f"message for queue {queue!r}"), float(delay))

    async def consume(self, queue: str, handler: Callable[[Any], object],
                      max_parallel: int = 1, max_attempts: int | None = None) -> QueueConsumer:
        """Call ``handler(message)`` (sync or async) for the queue's messages.

        If it raises, the message is delivered again after a pause (50 ms doubling to 5 s),
        until it has been tried ``max_attempts`` times (None: no limit); then the dead
        letter ``{"message", "attempts", "error"}`` goes to the queue ``<queue>.dead``.
        """
        check_name(queue, "queue name")
        _check_count(max_parallel, "max_parallel")
        if max_attempts is not None:
            _check_count(max_attempts, "max_attempts")
        self._operations.count("consume")

        async def run(payload: str) -> None:
            await _call(handler, decode(payload))
        return QueueConsumer(queue, await self._adapter.consume(queue, run, max_parallel,
                                                                max_attempts))

    async def status(self) -> dict[str, dict[str, int]]:
        """Per queue name: how many jobs are waiting, delayed, running and dead."""
        self._operations.count("status")
        return await self._adapter.queue_status()

    async def retry_dead(self, queue: str) -> int:
        """Put the dead letters of ``queue`` back on it as new jobs; how many."""
        check_name(queue, "queue name")
        self._operations.count("retry_dead")
        return await self._adapter.queue_retry_dead(queue)

    async def purge(self, queue: str) -> int:
        """Drop the waiting, delayed and dead jobs of ``queue`` (running ones finish); how
        many."""
        check_name(queue, "queue name")
        self._operations.count("purge")
        return await self._adapter.queue_purge(queue)
