"""A queue consumer on a Redis stream with a consumer group (used by the Redis adapter).

Jobs are read with XREADGROUP; a finished job is acked and deleted; a failed one is added
again (attempt + 1) and acked in one transaction, or, on its last attempt, its dead letter
is written instead. Every ``MOVE_EVERY`` seconds the consumer moves the queue's due delayed
jobs to the stream. Jobs left pending by a dead consumer are
taken over with XAUTOCLAIM once idle for ``claim_after`` seconds; a consumer keeps its own
running jobs fresh with XCLAIM so they are not taken from it while they run.

While Redis is unreachable the consumer keeps trying (one log line per few seconds); a job
whose outcome could not be recorded stays pending and is delivered again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from framework.broker.adapter import (
    JobHandler,
    error_text,
    is_last_attempt,
    job_attempt,
    retry_delay,
)
from framework.broker.outage import REDIS_OUTAGES
from framework.broker.redis_queues import GROUP, RedisQueues
from framework.ratelimit import RateLimitedLog

logger = logging.getLogger("framework.broker")

READ_BLOCK_MS = 100
MOVE_EVERY = 0.1
RETRY_PAUSE = 0.5


def read_block_ms(read_timeout: float | None) -> int:
    """How long XREADGROUP may block: well inside the connection's read timeout."""
    if read_timeout is None:
        return READ_BLOCK_MS
    return max(1, min(READ_BLOCK_MS, int(read_timeout * 500)))


#: xreadgroup's answer over RESP2, fw's protocol: [stream, [(entry id, fields), ...]] per stream
StreamsReply = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]] | None


async def ensure_group(client: aioredis.Redis, stream: str) -> None:
    """The stream's consumer group, from its first entry: jobs produced earlier wait in it."""
    try:
        await client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


class StreamConsumer:
    def __init__(self, client: aioredis.Redis, queues: RedisQueues, queue: str,
                 handler: JobHandler, max_parallel: int, max_attempts: int | None,
                 claim_after: float, read_timeout: float | None,
                 outages: RateLimitedLog) -> None:
        self._client = client
        self._queues = queues
        self._block_ms = read_block_ms(read_timeout)
        self._outages = outages
        self._stream = queues.stream(queue)
        self._queue = queue
        self._handler = handler
        self._slots = max_parallel
        self._max_attempts = max_attempts
        self._claim_after_ms = max(1, int(claim_after * 1000))
        self._name = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._running: dict[bytes, asyncio.Task[None]] = {}
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._queues.known(self._queue)
        await ensure_group(self._client, self._stream)
        self._loop_task = asyncio.get_running_loop().create_task(self._take_jobs())

    async def stop(self) -> None:
        """Take no more jobs; wait for the running ones to finish and be acked."""
        self._stopping = True
        if self._loop_task is not None:
            await self._loop_task
        if self._running:
            await asyncio.wait(list(self._running.values()))
        try:
            await self._client.xgroup_delconsumer(self._stream, GROUP, self._name)
        except (ResponseError, *REDIS_OUTAGES):
            pass  # Redis forgets the consumer when it dies with it; else XAUTOCLAIM copes

    async def _take_jobs(self) -> None:
        next_claim = next_move = 0.0
        group_lost = False
        while not self._stopping:
            try:
                if group_lost:
                    await ensure_group(self._client, self._stream)
                    group_lost = False
                free = self._slots - len(self._running)
                if free <= 0:
                    await asyncio.wait(list(self._running.values()),
                                       timeout=self._block_ms / 1000,
                                       return_when=asyncio.FIRST_COMPLETED)
                    continue
                if time.monotonic() >= next_move:
                    next_move = time.monotonic() + MOVE_EVERY
                    await self._queues.move_due(self._queue)
                if time.monotonic() >= next_claim:
                    next_claim = time.monotonic() + self._claim_after_ms / 3000
                    await self._keep_running_jobs()
                    if await self._take_over_orphans(free):
                        continue
                reply = await self._client.xreadgroup(GROUP, self._name, {self._stream: ">"},
                                                      count=free, block=self._block_ms)
                for _, entries in cast(StreamsReply, reply) or ():
                    self._start_jobs(entries)
            except Exception as error:
                group_lost = self._report(error)
                await asyncio.sleep(RETRY_PAUSE)

    def _report(self, error: Exception) -> bool:
        """Log a failed read (an outage once in a while); True if the consumer group is gone."""
        kind = f"queue {self._queue}"
        if isinstance(error, REDIS_OUTAGES):
            self._outages.warning(kind, "queue %r cannot read from Redis (%s); retrying",
                                  self._queue, error)
        elif isinstance(error, ResponseError) and "NOGROUP" in str(error):
            self._outages.warning(kind, "queue %r lost its consumer group (Redis restarted "
                                  "empty?); creating it again", self._queue)
            return True
        else:
            logger.exception("reading queue %r from Redis failed; retrying", self._queue)
        return False

    async def _take_over_orphans(self, free: int) -> bool:
        reply = await self._client.xautoclaim(self._stream, GROUP, self._name,
                                              min_idle_time=self._claim_after_ms,
                                              start_id="0-0", count=free)
        entries = [entry for entry in reply[1] if entry[1]]
        self._start_jobs(entries)
        return bool(entries)

    async def _keep_running_jobs(self) -> None:
        if self._running:
            await self._client.xclaim(self._stream, GROUP, self._name, 0,
                                      list(self._running), justid=True)

    def _start_jobs(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        loop = asyncio.get_running_loop()
        for entry_id, fields in entries:
            if entry_id not in self._running:
                task = loop.create_task(self._run(entry_id, fields))
                self._running[entry_id] = task

    async def _run(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        payload = fields[b"v"].decode()
        attempt = int(fields.get(b"n", b"0")) + 1
        job_attempt.set((attempt, self._max_attempts))
        try:
            try:
                await self._handler(payload)
            except Exception as error:
                last = is_last_attempt(attempt, self._max_attempts)
                logger.exception("job %s of queue %r failed (attempt %d); %s",
                                 entry_id.decode(), self._queue, attempt,
                                 "it goes to the dead letters" if last
                                 else "it will be delivered again")
                if not last:
                    await asyncio.sleep(retry_delay(attempt))
                async with self._client.pipeline(transaction=True) as pipe:
                    if last:
                        self._queues.bury(pipe, self._queue, payload, attempt, error_text(error))
                    else:
                        pipe.xadd(self._stream, {"v": payload, "n": attempt})
                    pipe.xack(self._stream, GROUP, entry_id)
                    pipe.xdel(self._stream, entry_id)
                    await pipe.execute()
            else:
                async with self._client.pipeline(transaction=True) as pipe:
                    pipe.xack(self._stream, GROUP, entry_id)
                    pipe.xdel(self._stream, entry_id)
                    await pipe.execute()
        except (ResponseError, *REDIS_OUTAGES) as error:
            self._outages.warning(f"queue {self._queue}", "queue %r could not record a job's "
                                  "outcome in Redis (%s); the job will be delivered again",
                                  self._queue, error)
        finally:
            self._running.pop(entry_id, None)
