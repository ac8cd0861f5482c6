"""The interface every broker transport implements, and the per-process parts they share.

Payloads are JSON text already encoded by the facades. ``LocalChannels`` fans one process's
bus messages out to its subscribers, so a transport subscribes a process once per channel;
``JobRunner`` runs pushed queue jobs and reports each outcome back: done, retry (after a
growing pause) or dead (its attempts used up).
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from typing import Any

from framework.broker.queues import dead_queue

logger = logging.getLogger("framework.broker")

Number = int | float
Deliver = Callable[[str], None]
JobHandler = Callable[[str], Awaitable[None]]
StopConsuming = Callable[[], Awaitable[None]]
QueueStatus = dict[str, dict[str, int]]
#: finish(queue, job id, outcome "done" / "retry" / "dead", last error) reports a job's end
FinishJob = Callable[[str, int, str, str], Coroutine[Any, Any, None]]


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
    async def lock_extend(self, name: str, token: str, ttl: float) -> bool:
        """``ttl`` more seconds for the holder of ``token``; False when it holds it no more."""

    @abstractmethod
    async def lock_is_held(self, name: str) -> bool: ...

    # queues

    @abstractmethod
    async def produce(self, queue: str, payload: str, delay: float = 0.0) -> None:
        """Queue a job; it can be taken once ``delay`` seconds have passed."""

    @abstractmethod
    async def consume(self, queue: str, handler: JobHandler, max_parallel: int,
                      max_attempts: int | None = None) -> StopConsuming:
        """Run ``handler`` for jobs of ``queue``, at most ``max_parallel`` at once.

        A job whose handler raised is delivered again until it has been tried
        ``max_attempts`` times (None: no limit), then its dead letter goes to
        ``<queue>.dead``; the returned coroutine function stops taking jobs and waits for
        the running ones.
        """

    @abstractmethod
    async def queue_status(self) -> QueueStatus:
        """Per queue name: counts of jobs waiting, delayed, running and dead."""

    @abstractmethod
    async def queue_retry_dead(self, queue: str) -> int:
        """Move the dead letters of ``queue`` back to it (attempts start again); how many."""

    @abstractmethod
    async def queue_purge(self, queue: str) -> int:
        """Drop the waiting, delayed and dead jobs of ``queue``; how many."""

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


def error_text(error: BaseException) -> str:
    """A job's last error as its dead letter keeps it."""
    return f"{type(error).__name__}: {error}"


# Inside a job's handler: (its attempt, counted from 1, and its consumer's max_attempts), so
# the handler's wrapper can tell a failure that will be retried from one that goes dead.
job_attempt: ContextVar[tuple[int, int | None]] = ContextVar("job_attempt", default=(1, None))


def is_last_attempt(attempt: int, max_attempts: int | None) -> bool:
    return max_attempts is not None and attempt >= max_attempts


def retry_delay(attempt: int) -> float:
    """Pause before a failed job goes back: 50 ms doubling to 5 s, so poison jobs don't spin."""
    return min(0.05 * 2.0 ** (attempt - 1), 5.0)


class JobRunner:
    """Runs jobs the broker pushes to this process's consumers; reports each outcome."""

    def __init__(self, finish: FinishJob) -> None:
        self._finish = finish
        self._handlers: dict[int, tuple[JobHandler, int | None]] = {}
        self._running: dict[int, set[asyncio.Task[None]]] = {}
        self._returning: set[asyncio.Task[None]] = set()
        self._next_id = 0

    def add(self, handler: JobHandler, max_attempts: int | None = None) -> int:
        self._next_id += 1
        self._handlers[self._next_id] = (handler, max_attempts)
        self._running[self._next_id] = set()
        return self._next_id

    async def remove(self, consumer: int) -> None:
        """Forget ``consumer`` once its running jobs are done."""
        self._handlers.pop(consumer, None)
        running = self._running.pop(consumer, set())
        if running:
            await asyncio.wait(running)

    def run(self, queue: str, consumer: int, job_id: int, payload: str, attempt: int) -> None:
        found = self._handlers.get(consumer)
        loop = asyncio.get_running_loop()
        if found is None:  # sent before the broker saw the consumer stop: give it back
            returning = loop.create_task(self._finish(queue, job_id, "retry", ""))
            self._returning.add(returning)
            returning.add_done_callback(self._returning.discard)
            return
        handler, max_attempts = found
        task = loop.create_task(self._run(handler, queue, job_id, payload, attempt,
                                          max_attempts))
        running = self._running[consumer]
        running.add(task)
        task.add_done_callback(running.discard)

    async def _run(self, handler: JobHandler, queue: str, job_id: int, payload: str,
                   attempt: int, max_attempts: int | None) -> None:
        job_attempt.set((attempt, max_attempts))
        try:
            await handler(payload)
        except Exception as error:
            if is_last_attempt(attempt, max_attempts):
                logger.exception("job %d of queue %r failed (attempt %d of %s); it goes to "
                                 "%r", job_id, queue, attempt, max_attempts, dead_queue(queue))
                await self._finish(queue, job_id, "dead", error_text(error))
                return
            logger.exception("job %d of queue %r failed (attempt %d); it will be delivered "
                             "again", job_id, queue, attempt)
            await asyncio.sleep(retry_delay(attempt))
            await self._finish(queue, job_id, "retry", "")
        else:
            await self._finish(queue, job_id, "done", "")
