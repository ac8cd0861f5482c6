"""The memory adapter: this process's own engine, called directly (one process, or the master)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from framework.broker.adapter import (
    BrokerAdapter,
    JobHandler,
    JobRunner,
    Number,
    QueueStatus,
    StopConsuming,
)
from framework.broker.engine import BrokerEngine
from framework.broker.queues import Job


class MemoryAdapter(BrokerAdapter):
    """Attached to ``engine`` as process ``process``; no near copy: the engine is local."""

    def __init__(self, engine: BrokerEngine, process: str = "local") -> None:
        super().__init__()
        self.engine = engine
        self.process = process
        self._jobs = JobRunner(self._finish_job)
        engine.attach(process, self)

    # what the engine pushes

    def deliver_message(self, channel: str, payload: str) -> None:
        self.channels.deliver(channel, payload)

    def deliver_job(self, queue: str, consumer: int, job: Job) -> None:
        self._jobs.run(queue, consumer, job.id, job.payload, job.attempt)

    def drop_near_copy(self, key: str, dropped: Callable[[], None]) -> None:
        dropped()  # reads go to the engine itself: there is no copy to drop

    # bus

    async def publish(self, channel: str, payload: str) -> None:
        self.engine.publish(channel, payload)

    async def _join(self, channel: str) -> None:
        self.engine.subscribe(self.process, channel)

    async def _leave(self, channel: str) -> None:
        self.engine.unsubscribe(self.process, channel)

    # cache

    async def cache_get(self, key: str, fresh: bool = False) -> str | None:
        found = self.engine.cache_get(self.process, key)
        return None if found is None else found[0]

    async def cache_set(self, key: str, payload: str, ttl: float | None) -> None:
        written, done = _completion()
        self.engine.cache_set(self.process, key, payload, ttl, done)
        await written

    async def cache_delete(self, key: str) -> None:
        written, done = _completion()
        self.engine.cache_delete(self.process, key, done)
        await written

    # key-values

    async def kv_get(self, key: str) -> str | None:
        return self.engine.kv_get(key)

    async def kv_set(self, key: str, payload: str, ttl: float | None) -> None:
        self.engine.kv_set(key, payload, ttl)

    async def kv_delete(self, key: str) -> None:
        self.engine.kv_delete(key)

    async def kv_increment(self, key: str, by: Number) -> Number:
        return self.engine.kv_increment(key, by)

    # locks

    async def lock_acquire(self, name: str, ttl: float) -> str | None:
        return self.engine.lock_acquire(self.process, name, ttl)

    async def lock_release(self, name: str, token: str) -> bool:
        return self.engine.lock_release(name, token)

    async def lock_extend(self, name: str, token: str, ttl: float) -> bool:
        return self.engine.lock_extend(name, token, ttl)

    async def lock_is_held(self, name: str) -> bool:
        return self.engine.lock_is_held(name)

    # queues

    async def produce(self, queue: str, payload: str, delay: float = 0.0) -> None:
        self.engine.queue_produce(queue, payload, delay)

    async def consume(self, queue: str, handler: JobHandler, max_parallel: int,
                      max_attempts: int | None = None) -> StopConsuming:
        consumer = self._jobs.add(handler, max_attempts)
        self.engine.queue_consume(self.process, queue, consumer, max_parallel)

        async def stop() -> None:
            self.engine.queue_stop(self.process, queue, consumer)
            await self._jobs.remove(consumer)
        return stop

    async def _finish_job(self, queue: str, job_id: int, outcome: str, error: str) -> None:
        if outcome == "done":
            self.engine.queue_ack(self.process, queue, job_id)
        elif outcome == "dead":
            self.engine.queue_dead(self.process, queue, job_id, error)
        else:
            self.engine.queue_retry(self.process, queue, job_id)

    async def queue_status(self) -> QueueStatus:
        return self.engine.queue_status()

    async def queue_retry_dead(self, queue: str) -> int:
        return self.engine.queue_retry_dead(queue)

    async def queue_purge(self, queue: str) -> int:
        return self.engine.queue_purge(queue)

    async def close(self) -> None:
        self.engine.detach(self.process)


def _completion() -> tuple[asyncio.Future[None], Callable[[], None]]:
    """A future and the callback that completes it (harmless once it was cancelled)."""
    future = asyncio.get_running_loop().create_future()

    def done() -> None:
        if not future.done():
            future.set_result(None)
    return future, done
