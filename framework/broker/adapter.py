"""The interface every broker transport implements, and the per-process parts they share.

Payloads are JSON text already encoded by the facades. ``LocalChannels`` fans one process's
bus messages out to its subscribers, so a transport subscribes a process once per channel;
``JobRunner`` runs pushed queue jobs and reports each outcome back.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

logger = logging.getLogger("framework.broker")

Number = int | float
Deliver = Callable[[str], None]
JobHandler = Callable[[str], Awaitable[None]]
StopConsuming = Callable[[], Awaitable[None]]


class BrokerAdapter(ABC):
    """One process's way to the broker's state (memory, pipe to the master, or Redis)."""

    def __init__(self) -> None:
        self.channels = LocalChannels()
        self._membership = asyncio.Lock()

    # bus

    @abstractmethod
    async def publish(self, channel: str, payload: str) -> None: ...

    async def subscribe(self, channel: str, deliver: Deliver) -> None:
        """Call ``deliver(payload)`` for each message on ``channel`` from now on."""
        async with self._membership:
            if self.channels.add(channel, deliver):
                try:
                    await self._join(channel)
                except BaseException:
                    self.channels.remove(channel, deliver)
                    raise

    async def unsubscribe(self, channel: str, deliver: Deliver) -> None:
        async with self._membership:
            if self.channels.remove(channel, deliver):
                await self._leave(channel)

    @abstractmethod
    async def _join(self, channel: str) -> None:
        """Subscribe this process to ``channel``: done once messages are on their way."""

    @abstractmethod
    async def _leave(self, channel: str) -> None: ...

    # cache

    @abstractmethod
    async def cache_get(self, key: str, fresh: bool = False) -> str | None:
        """The payload at ``key``; ``fresh`` skips this process's near copy."""

    @abstractmethod
    async def cache_set(self, key: str, payload: str, ttl: float | None) -> None:
        """Store; returns once no other process's near copy holds an older value."""

    @abstractmethod
    async def cache_delete(self, key: str) -> None: ...

    # key-values

    @abstractmethod
    async def kv_get(self, key: str) -> str | None: ...

    @abstractmethod
    async def kv_set(self, key: str, payload: str, ttl: float | None) -> None: ...

    @abstractmethod
    async def kv_delete(self, key: str) -> None: ...

    @abstractmethod
    async def kv_increment(self, key: str, by: Number) -> Number: ...

    # locks

    @abstractmethod
    async def lock_acquire(self, name: str, ttl: float) -> str | None:
        """An owner token, or None when another holder has it."""

    @abstractmethod
    async def lock_release(self, name: str, token: str) -> bool: ...

    @abstractmethod
    async def lock_is_held(self, name: str) -> bool: ...

    # queues

    @abstractmethod
    async def produce(self, queue: str, payload: str) -> None: ...

    @abstractmethod
    async def consume(self, queue: str, handler: JobHandler, max_parallel: int) -> StopConsuming:
        """Run ``handler`` for jobs of ``queue``, at most ``max_parallel`` at once.

        A job whose handler raised is delivered again; the returned coroutine function stops
        taking jobs and waits for the running ones.
        """

    @abstractmethod
    async def close(self) -> None:
        """Leave the broker: this process's subscriptions, locks and consumers end."""


class LocalChannels:
    """This process's bus subscribers, per channel."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Deliver]] = {}

    def add(self, channel: str, deliver: Deliver) -> bool:
        """Returns True for the channel's first subscriber in this process."""
        subscribers = self._subscribers.setdefault(channel, [])
        subscribers.append(deliver)
        return len(subscribers) == 1

    def remove(self, channel: str, deliver: Deliver) -> bool:
        """Returns True when that was the channel's last subscriber in this process."""
        subscribers = self._subscribers.get(channel)
        if not subscribers or deliver not in subscribers:
            return False
        subscribers.remove(deliver)
        if subscribers:
            return False
        del self._subscribers[channel]
        return True

    def deliver(self, channel: str, payload: str) -> None:
        for deliver in self._subscribers.get(channel, ()):
            deliver(payload)


def retry_delay(attempt: int) -> float:
    """Pause before a failed job goes back: 50 ms doubling to 5 s, so poison jobs don't spin."""
    return min(0.05 * 2.0 ** (attempt - 1), 5.0)


class JobRunner:
    """Runs jobs the broker pushes to this process's consumers; reports ack or retry."""

    def __init__(self, finish: Callable[[str, int, bool], Coroutine[Any, Any, None]]) -> None:
        self._finish = finish
        self._handlers: dict[int, JobHandler] = {}
        self._running: dict[int, set[asyncio.Task[None]]] = {}
        self._returning: set[asyncio.Task[None]] = set()
        self._next_id = 0

    def add(self, handler: JobHandler) -> int:
        self._next_id += 1
        self._handlers[self._next_id] = handler
        self._running[self._next_id] = set()
        return self._next_id

    async def remove(self, consumer: int) -> None:
        """Forget ``consumer`` once its running jobs are done."""
        self._handlers.pop(consumer, None)
        running = self._running.pop(consumer, set())
        if running:
            await asyncio.wait(running)

    def run(self, queue: str, consumer: int, job_id: int, payload: str, attempt: int) -> None:
        handler = self._handlers.get(consumer)
        loop = asyncio.get_running_loop()
        if handler is None:  # sent before the broker saw the consumer stop: give it back
            returning = loop.create_task(self._finish(queue, job_id, False))
            self._returning.add(returning)
            returning.add_done_callback(self._returning.discard)
            return
        task = loop.create_task(self._run(handler, queue, job_id, payload, attempt))
        running = self._running[consumer]
        running.add(task)
        task.add_done_callback(running.discard)

    async def _run(self, handler: JobHandler, queue: str, job_id: int, payload: str,
                   attempt: int) -> None:
        try:
            await handler(payload)
        except Exception:
            logger.exception("job %d of queue %r failed (attempt %d); it will be delivered "
                             "again", job_id, queue, attempt)
            await asyncio.sleep(retry_delay(attempt))
            await self._finish(queue, job_id, False)
        else:
            await self._finish(queue, job_id, True)
