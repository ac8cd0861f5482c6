"""The Redis adapter (``broker_url="redis://..."``): many fw servers on many hosts share state.

Bus and near-copy invalidations on pub/sub, cache and key-values with SET PX, INCRBY and
INCRBYFLOAT, locks with SET NX PX and an owner token released by a Lua check-and-delete,
queues on streams with a consumer group (see redis_streams).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from framework.broker.adapter import BrokerAdapter, JobHandler, Number, StopConsuming
from framework.broker.near import NearCache
from framework.broker.redis_streams import StreamConsumer

logger = logging.getLogger("framework.broker")

RELEASE_IF_OWNER = """
if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end
return 0
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisAdapter(BrokerAdapter):
    """Keys and channels live under ``namespace`` (default "fw"), so apps can share a Redis.

    ``claim_after``: seconds a job may stay unacked by a vanished consumer before another
    takes it over. Calls beyond ``max_connections`` at once wait for a free connection.
    """

    def __init__(self, url: str, namespace: str = "fw", claim_after: float = 30.0,
                 max_connections: int = 64) -> None:
        super().__init__()
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=max_connections,
                                                        timeout=None)
        self.client = aioredis.Redis.from_pool(pool)
        self._ns = namespace
        self._claim_after = claim_after
        self._invalidations = f"{namespace}:cache-invalidate"
        self.near = NearCache()
        self._pubsub: Any = None
        self._listener: asyncio.Task | None = None
        self._confirmations: dict[str, list[asyncio.Future]] = {}
        self._release = self.client.register_script(RELEASE_IF_OWNER)
        self._consumers: list[StreamConsumer] = []

    # pub/sub: bus messages and invalidations arrive on one connection

    async def _listen_to(self, channel: str) -> None:
        """Subscribe this process's pub/sub connection; returns once Redis confirmed it."""
        if self._pubsub is None:
            self._pubsub = self.client.pubsub()
        confirmed = asyncio.get_running_loop().create_future()
        self._confirmations.setdefault(channel, []).append(confirmed)
        await self._pubsub.subscribe(channel)
        if self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen())
        await confirmed

    async def _listen(self) -> None:
        prefix = f"{self._ns}:bus:"
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Redis pub/sub connection failed; dropping near copies")
                self.near.clear()
                await asyncio.sleep(0.2)
                continue
            if message is None:
                continue
            channel = message["channel"].decode()
            if message["type"] == "subscribe":
                for future in self._confirmations.pop(channel, ()):
                    if not future.done():
                        future.set_result(None)
            elif message["type"] == "message":
                if channel == self._invalidations:
                    self.near.invalidate(message["data"].decode())
                elif channel.startswith(prefix):
                    self.channels.deliver(channel[len(prefix):], message["data"].decode())

    # bus

    async def publish(self, channel: str, payload: str) -> None:
        await self.client.publish(f"{self._ns}:bus:{channel}", payload)

    async def _join(self, channel: str) -> None:
        await self._listen_to(f"{self._ns}:bus:{channel}")

    async def _leave(self, channel: str) -> None:
        await self._pubsub.unsubscribe(f"{self._ns}:bus:{channel}")

    # cache

    async def cache_get(self, key: str, fresh: bool = False) -> str | None:
        if not fresh:
            payload = self.near.get(key)
            if payload is not None:
                return payload
        if self._invalidations not in self._subscribed_channels():
            async with self._membership:
                if self._invalidations not in self._subscribed_channels():
                    await self._listen_to(self._invalidations)
        read = self.near.begin_read()
        payload = ttl = None
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.get(f"{self._ns}:cache:{key}")
                pipe.pttl(f"{self._ns}:cache:{key}")
                found, remaining = await pipe.execute()
            if found is not None:
                payload = found.decode()
                # PTTL -1: no expiry; -2: the entry expired between GET and PTTL (keep no copy)
                ttl = None if remaining == -1 else max(remaining, 0) / 1000
        finally:
            self.near.end_read(key, read, payload, ttl)
        return payload

    def _subscribed_channels(self) -> set[str]:
        if self._pubsub is None:
            return set()
        return {name.decode() if isinstance(name, bytes) else name
                for name in self._pubsub.channels} - set(self._confirmations)

    async def cache_set(self, key: str, payload: str, ttl: float | None) -> None:
        self.near.invalidate(key)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(f"{self._ns}:cache:{key}", payload, px=None if ttl is None else _ms(ttl))
            pipe.publish(self._invalidations, key)
            await pipe.execute()

    async def cache_delete(self, key: str) -> None:
        self.near.invalidate(key)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(f"{self._ns}:cache:{key}")
            pipe.publish(self._invalidations, key)
            await pipe.execute()

    # key-values

    async def kv_get(self, key: str) -> str | None:
        found = await self.client.get(f"{self._ns}:kv:{key}")
        return None if found is None else found.decode()

    async def kv_set(self, key: str, payload: str, ttl: float | None) -> None:
        await self.client.set(f"{self._ns}:kv:{key}", payload,
                              px=None if ttl is None else _ms(ttl))

    async def kv_delete(self, key: str) -> None:
        await self.client.delete(f"{self._ns}:kv:{key}")

    async def kv_increment(self, key: str, by: Number) -> Number:
        name = f"{self._ns}:kv:{key}"
        try:
            if isinstance(by, int):
                try:
                    return await self.client.incrby(name, by)
                except ResponseError as error:
                    if "not an integer" not in str(error):
                        raise
            return float(await self.client.incrbyfloat(name, by))
        except ResponseError as error:
            raise TypeError(f"cannot increment key {key!r}: it does not hold a number "
                            f"({error})") from None

    # locks

    async def lock_acquire(self, name: str, ttl: float) -> str | None:
        token = secrets.token_hex(8)
        taken = await self.client.set(f"{self._ns}:lock:{name}", token, nx=True, px=_ms(ttl))
        return token if taken else None

    async def lock_release(self, name: str, token: str) -> bool:
        return bool(await self._release(keys=[f"{self._ns}:lock:{name}"], args=[token]))

    async def lock_is_held(self, name: str) -> bool:
        return bool(await self.client.exists(f"{self._ns}:lock:{name}"))

    # queues

    async def produce(self, queue: str, payload: str) -> None:
        await self.client.xadd(f"{self._ns}:queue:{queue}", {"v": payload, "n": 0})

    async def consume(self, queue: str, handler: JobHandler, max_parallel: int) -> StopConsuming:
        consumer = StreamConsumer(self.client, f"{self._ns}:queue:{queue}", queue, handler,
                                  max_parallel, self._claim_after)
        await consumer.start()
        self._consumers.append(consumer)

        async def stop() -> None:
            if consumer in self._consumers:
                self._consumers.remove(consumer)
                await consumer.stop()
        return stop

    async def close(self) -> None:
        for consumer in list(self._consumers):
            await consumer.stop()
        self._consumers.clear()
        if self._listener is not None:
            self._listener.cancel()
            try:
                await self._listener
            except asyncio.CancelledError:
                pass
        if self._pubsub is not None:
            await self._pubsub.aclose()
        await self.client.aclose()
