"""The pipe adapter: a worker's broker calls, sent to the master's BrokerHost over its pipe.

Many calls can be in flight at once, matched by id. The worker's reader loop hands every
``"b"`` frame to ``PipeAdapter.handle``: replies, bus messages, queue jobs and near-copy
invalidations (acknowledged at once, so the writer's call can return).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

from framework.broker.adapter import BrokerAdapter, JobHandler, JobRunner, Number, StopConsuming
from framework.broker.near import NearCache
from framework.broker.protocol import KIND, BrokerError, remote_error
from framework.channel import Channel

logger = logging.getLogger("framework.broker")


class PipeAdapter(BrokerAdapter):
    def __init__(self, channel: Channel) -> None:
        super().__init__()
        self._channel = channel
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._closed = False
        self.near = NearCache()
        self._jobs = JobRunner(self._finish_job)

    # frames from the master

    def handle(self, message: dict[str, Any]) -> None:
        """Take one ``"b"`` frame from the master (called by the worker's reader loop)."""
        if "re" in message:
            future = self._pending.pop(message["re"], None)
            if future is None or future.done():
                return
            if "e" in message:
                future.set_exception(remote_error(message["e"]))
            else:
                future.set_result(message.get("r"))
            return
        push = message.get("p")
        try:
            if push == "msg":
                self.channels.deliver(message["ch"], message["v"])
            elif push == "inv":
                self.near.invalidate(message["key"])
                self._channel.write({"k": KIND, "op": "ack", "a": message["a"]})
            elif push == "job":
                self._jobs.run(message["q"], message["c"], message["j"], message["v"],
                               message["n"])
            else:
                logger.warning("unknown broker frame from the master dropped: %r", message)
        except KeyError as missing:
            logger.warning("broker frame without %s from the master dropped", missing)

    async def close(self) -> None:
        """The pipe is gone: calls waiting for an answer fail with BrokerError."""
        self._closed = True
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(BrokerError("the broker pipe to the master closed"))

    async def _call(self, op: str, **fields: Any) -> Any:
        if self._closed:
            raise BrokerError("the broker pipe to the master is closed")
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self._channel.write({"k": KIND, "id": request_id, "op": op, **fields})
            await self._channel.drain()
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
        epoch = self.near.begin_read()
        found = None
        try:
            found = await self._call("cget", key=key)
        finally:
            payload, ttl = found if found else (None, None)
            self.near.end_read(key, epoch, payload, ttl)
        return payload

    async def cache_set(self, key: str, payload: str, ttl: float | None) -> None:
        self.near.invalidate(key)
        await self._call("cset", key=key, v=payload, ttl=ttl)

    async def cache_delete(self, key: str) -> None:
        self.near.invalidate(key)
        await self._call("cdel", key=key)

    # key-values

    async def kv_get(self, key: str) -> str | None:
        return await self._call("kget", key=key)

    async def kv_set(self, key: str, payload: str, ttl: float | None) -> None:
        await self._call("kset", key=key, v=payload, ttl=ttl)

    async def kv_delete(self, key: str) -> None:
        await self._call("kdel", key=key)

    async def kv_increment(self, key: str, by: Number) -> Number:
        return await self._call("kinc", key=key, by=by)

    # locks

    async def lock_acquire(self, name: str, ttl: float) -> str | None:
        return await self._call("lacq", name=name, ttl=ttl)

    async def lock_release(self, name: str, token: str) -> bool:
        return await self._call("lrel", name=name, token=token)

    async def lock_is_held(self, name: str) -> bool:
        return await self._call("lheld", name=name)

    # queues

    async def produce(self, queue: str, payload: str) -> None:
        await self._call("qpush", q=queue, v=payload)

    async def consume(self, queue: str, handler: JobHandler, max_parallel: int) -> StopConsuming:
        consumer = self._jobs.add(handler)
        await self._call("qsub", q=queue, c=consumer, n=max_parallel)

        async def stop() -> None:
            await self._call("qstop", q=queue, c=consumer)
            await self._jobs.remove(consumer)
        return stop

    async def _finish_job(self, queue: str, job_id: int, done: bool) -> None:
        if not self._closed:
            self._channel.write({"k": KIND, "op": "qdone" if done else "qretry", "q": queue,
                                 "j": job_id})
            await self._channel.drain()


def attach_to_master(channel: Channel) -> PipeAdapter:
    """Make this worker's broker facades talk to the master over ``channel``.

    The worker's reader loop must pass every ``"b"`` frame to the returned adapter's
    ``handle`` and await its ``close()`` when the pipe ends.
    """
    from framework.broker.selection import use_adapter

    adapter = PipeAdapter(channel)
    use_adapter(adapter)
    return adapter
