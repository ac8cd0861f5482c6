"""The pipe adapter: a worker's broker calls, sent to the master's BrokerHost over its pipe.

Many calls can be in flight at once, matched by id; the frames of one event-loop turn go
out in as few batch frames as the pipe's frame limit allows. A call whose frame cannot be
sent fails alone; a call the master leaves unanswered for ``call_timeout`` seconds raises
BrokerUnavailable. The worker's reader loop hands every broker frame to ``PipeAdapter.handle``:
replies, bus messages, queue jobs and near-copy invalidations (acknowledged at once, so the
writer's call can return).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
from collections.abc import Mapping
from typing import Any, cast

from framework.broker.adapter import (
    BrokerAdapter,
    JobHandler,
    JobRunner,
    Number,
    QueueStatus,
    StopConsuming,
)
from framework.broker.channel import Channel
from framework.broker.codec import max_value_bytes
from framework.broker.near import NearCache
from framework.broker.outage import BrokerUnavailable
from framework.broker.protocol import (
    KIND,
    BrokerFrame,
    Unsendable,
    encode_batches,
    frame_limit,
    remote_error,
)
from framework.config import FrameworkConfig
from framework.ratelimit import RateLimitedLog

logger = logging.getLogger("framework.broker")
unsent_log = RateLimitedLog(logger)

MIN_CALL_TIMEOUT = 60.0


def call_timeout(config: FrameworkConfig | None = None) -> float:
    """How long a call waits for the master: 60 s, or twice worker_timeout when longer, so
    a cache write waiting for a stalled worker outlives the watchdog that replaces it."""
    worker_timeout = 0.0 if config is None else config.worker_timeout
    return max(MIN_CALL_TIMEOUT, 2 * worker_timeout)


class PipeAdapter(BrokerAdapter):
    def __init__(self, channel: Channel, call_timeout: float = MIN_CALL_TIMEOUT) -> None:
        super().__init__()
        self._channel = channel
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[object]] = {}
        self._outbox: list[BrokerFrame] = []
        self._closed = False
        self.near = NearCache()
        self._jobs = JobRunner(self._finish_job)
        self.call_timeout = call_timeout
        self._deadline_marks: collections.deque[tuple[float, int]] = collections.deque()
        self._deadline_timer: asyncio.TimerHandle | None = None

    # frames from the master

    def handle(self, message: Mapping[str, object]) -> None:
        """Take one broker frame from the master (called by the worker's reader loop)."""
        frames = message.get("batch")
        for frame in frames if isinstance(frames, list) else [message]:
            self._take(cast(BrokerFrame, frame))

    def _take(self, message: BrokerFrame) -> None:
        """One frame as the master's host writes them; a malformed one is logged and dropped."""
        try:
            if "re" in message:
                self._answer(message)
            elif message.get("p") == "msg":
                self.channels.deliver(message["ch"], message["v"])
            elif message.get("p") == "inv":
                self.near.invalidate(message["key"])
                self._post({"k": KIND, "op": "ack", "a": message["a"]})
            elif message.get("p") == "job":
                self._jobs.run(message["q"], message["c"], message["j"], message["v"],
                               message["n"])
            else:
                logger.warning("unknown broker frame from the master dropped: %r", message)
        except (KeyError, TypeError, AttributeError) as error:
            logger.warning("malformed broker frame from the master dropped (%r): %r", error,
                           message)

    def _answer(self, message: BrokerFrame) -> None:
        future = self._pending.pop(message["re"], None)
        if future is None or future.done():
            return
        if "e" in message:
            future.set_exception(remote_error(message["e"]))
        else:
            future.set_result(message.get("r"))

    async def close(self) -> None:
        """The pipe is gone: calls waiting for an answer fail with BrokerUnavailable."""
        self._closed = True
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
        self._fail_calls_before(None, BrokerUnavailable("the master", "its pipe closed"))

    def _post(self, frame: BrokerFrame) -> None:
        """Send ``frame`` with the others of this loop turn."""
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox.append(frame)

    def _flush(self) -> None:
        frames, self._outbox = self._outbox, []
        if self._closed:  # close() has failed their calls
            return
        if self._deadline_timer is None:
            self._check_deadlines()
        payloads, unsendable = encode_batches(frames, self._channel.max_frame_size)
        for payload in payloads:
            self._channel.write_payload(payload)
        for refused in unsendable:
            self._refuse(refused)

    def _refuse(self, refused: Unsendable) -> None:
        """A frame too big (or not JSON) to send: its call raises, the others go on."""
        request_id = refused.frame.get("id")
        future = self._pending.pop(request_id, None) if isinstance(request_id, int) else None
        if future is None:
            unsent_log.warning("unsent", "broker frame to the master not sent: %s",
                               refused.error)
        elif not future.done():
            future.set_exception(refused.error)

    def _check_deadlines(self) -> None:
        """Fail the calls unanswered for ``call_timeout``; runs every quarter of it.

        Each run marks the next request id: once a mark is ``call_timeout`` old, every
        call with a lower id has waited at least that long. Calls themselves cost nothing.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._deadline_marks.append((now, next(self._ids)))
        while self._deadline_marks[0][0] <= now - self.call_timeout:
            _, first_in_time = self._deadline_marks.popleft()
            self._fail_calls_before(first_in_time, BrokerUnavailable(
                "the master", f"it did not answer a call within {self.call_timeout:g} s"))
        self._deadline_timer = loop.call_later(self.call_timeout / 4, self._check_deadlines)

    def _fail_calls_before(self, request_id: int | None, error: Exception) -> None:
        """Fail the calls with ids below ``request_id`` (every call, when None)."""
        for pending_id in list(self._pending):  # insertion order is id order
            if request_id is not None and pending_id >= request_id:
                break
            future = self._pending.pop(pending_id)
            if not future.done():
                future.set_exception(error)

    async def _call(self, op: str, **fields: object) -> Any:
        """Send one request and wait for its answer (any JSON value): the answer is the
        backpressure."""
        if self._closed:
            raise BrokerUnavailable("the master", "its pipe is closed")
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self._post(cast(BrokerFrame, {"k": KIND, "id": request_id, "op": op, **fields}))
            return await future
        finally:
            self._pending.pop(request_id, None)

    # bus

    async def publish(self, channel: str, payload: str) -> None:
        await self._call("pub", ch=channel, v=payload)

    async def _join(self, channel: str) -> None:
        await self._call("sub", ch=channel)

    async def _leave(self, channel: str) -> None:
        await self._call("unsub", ch=channel)

    # cache

    async def cache_get(self, key: str, fresh: bool = False) -> str | None:
        if not fresh:
            payload = self.near.get(key)
            if payload is not None:
                return payload
        read = self.near.begin_read()
        found = None
        try:
            found = await self._call("cget", key=key)
        finally:
            payload, ttl = found if found else (None, None)
            self.near.end_read(key, read, payload, ttl)
        return payload

    async def cache_set(self, key: str, payload: str, ttl: float | None) -> None:
        self.near.invalidate(key)
        await self._call("cset", key=key, v=payload, ttl=ttl)

    async def cache_delete(self, key: str) -> None:
        self.near.invalidate(key)
        await self._call("cdel", key=key)

    # key-values

    async def kv_get(self, key: str) -> str | None:
        found: str | None = await self._call("kget", key=key)
        return found

    async def kv_set(self, key: str, payload: str, ttl: float | None) -> None:
        await self._call("kset", key=key, v=payload, ttl=ttl)

    async def kv_delete(self, key: str) -> None:
        await self._call("kdel", key=key)

    async def kv_increment(self, key: str, by: Number) -> Number:
        total: Number = await self._call("kinc", key=key, by=by)
        return total

    # locks

    async def lock_acquire(self, name: str, ttl: float) -> str | None:
        token: str | None = await self._call("lacq", name=name, ttl=ttl)
        return token

    async def lock_release(self, name: str, token: str) -> bool:
        released: bool = await self._call("lrel", name=name, token=token)
        return released

    async def lock_extend(self, name: str, token: str, ttl: float) -> bool:
        extended: bool = await self._call("lext", name=name, token=token, ttl=ttl)
        return extended

    async def lock_is_held(self, name: str) -> bool:
        held: bool = await self._call("lheld", name=name)
        return held

    # queues

    async def produce(self, queue: str, payload: str, delay: float = 0.0) -> None:
        if delay > 0:
            await self._call("qpush", q=queue, v=payload, d=delay)
        else:
            await self._call("qpush", q=queue, v=payload)

    async def consume(self, queue: str, handler: JobHandler, max_parallel: int,
                      max_attempts: int | None = None) -> StopConsuming:
        consumer = self._jobs.add(handler, max_attempts)
        await self._call("qsub", q=queue, c=consumer, n=max_parallel)

        async def stop() -> None:
            await self._call("qstop", q=queue, c=consumer)
            await self._jobs.remove(consumer)
        return stop

    async def _finish_job(self, queue: str, job_id: int, outcome: str, error: str) -> None:
        if self._closed:
            return
        if outcome == "dead":
            self._post({"k": KIND, "op": "qdead", "q": queue, "j": job_id, "err": error})
        else:
            self._post({"k": KIND, "op": "qdone" if outcome == "done" else "qretry", "q": queue,
                        "j": job_id})

    async def queue_status(self) -> QueueStatus:
        status: QueueStatus = await self._call("qstat")
        return status

    async def queue_retry_dead(self, queue: str) -> int:
        moved: int = await self._call("qrdead", q=queue)
        return moved

    async def queue_purge(self, queue: str) -> int:
        dropped: int = await self._call("qpurge", q=queue)
        return dropped


def attach_to_master(channel: Channel, config: FrameworkConfig | None = None) -> PipeAdapter:
    """An adapter talking to the master over ``channel`` (a worker makes it its BrokerAdapter).

    The channel's frame limit grows to hold the largest value ``config`` allows (the
    master's end must use the same). The worker's reader loop must pass every broker
    frame to the returned adapter's ``handle`` and await its ``close()`` when the pipe ends.
    """
    channel.max_frame_size = frame_limit(max_value_bytes(config))
    return PipeAdapter(channel, call_timeout(config))
