"""The Redis adapter (``broker_url="redis://..."``): many fw servers on many hosts share state.

Bus and near-copy invalidations on pub/sub, cache and key-values with SET PX, INCRBY and
INCRBYFLOAT, locks with SET NX PX and an owner token released by a Lua check-and-delete,
queues on streams with a consumer group (see redis_streams).

Every connection has a connect and a read timeout (2 s and 5 s, or broker_url's own
``socket_connect_timeout=`` and ``socket_timeout=``), so a dead or stalled Redis fails a call
with BrokerUnavailable within them instead of hanging it; the pub/sub listener and the queue
consumers keep retrying and carry on once Redis answers again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar, cast
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.connection import parse_url
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from framework.broker.adapter import (
    BrokerAdapter,
    JobHandler,
    Number,
    QueueStatus,
    StopConsuming,
)
from framework.broker.near import NearCache
from framework.broker.outage import REDIS_OUTAGES, BrokerUnavailable
from framework.broker.redis_queues import RedisQueues
from framework.broker.redis_streams import StreamConsumer
from framework.ratelimit import RateLimitedLog

logger = logging.getLogger("framework.broker")

CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 5.0
LISTEN_POLL = 1.0  # the listener's read timeout: silence on pub/sub is normal, not an outage
RECONNECT_PAUSE = 0.5
OUTAGE_LOG_INTERVAL = 5.0

P = ParamSpec("P")
T = TypeVar("T")

RELEASE_IF_OWNER = """
if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end
return 0
"""
EXTEND_IF_OWNER = """
if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) end
return 0
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def public_address(url: str) -> str:
    """``url`` without credentials and options: what logs and clients may be shown."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}:{parts.port or 6379}{parts.path}"


def _connection_pool(url: str, max_connections: int) -> aioredis.BlockingConnectionPool:
    """Connections with fw's timeouts unless the url sets its own; a call waits for a free
    connection no longer than for an answer."""
    read_timeout = parse_url(url).get("socket_timeout", READ_TIMEOUT)
    return aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=read_timeout,
        socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=READ_TIMEOUT)


def _outage_is_unavailable(
        call: Callable[Concatenate[RedisAdapter, P], Awaitable[T]],
) -> Callable[Concatenate[RedisAdapter, P], Coroutine[Any, Any, T]]:
    """``call``, raising BrokerUnavailable when Redis is down or silent past its timeouts."""
    @functools.wraps(call)
    async def checked(self: RedisAdapter, /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            result = await call(self, *args, **kwargs)
        except REDIS_OUTAGES as error:
            raise self.unavailable(error) from error
        if self.down:
            self.down = False
            logger.info("Redis broker at %s answers again", self.address)
        return result
    return checked


class RedisAdapter(BrokerAdapter):
    """Keys and channels live under ``namespace`` (default "fw"), so apps can share a Redis.

    ``claim_after``: seconds a job may stay unacked by a vanished consumer before another
    takes it over. Calls beyond ``max_connections`` at once wait for a free connection, as
    long as the read timeout at most.
    """

    def __init__(self, url: str, namespace: str = "fw", claim_after: float = 30.0,
                 max_connections: int = 64) -> None:
        super().__init__()
        pool = _connection_pool(url, max_connections)
        self.client = aioredis.Redis.from_pool(pool)
        self.address = public_address(url)
        self.read_timeout: float | None = pool.connection_kwargs.get("socket_timeout")
        self.outages = RateLimitedLog(logger, OUTAGE_LOG_INTERVAL)
        self.down = False
        self._ns = namespace
        self._claim_after = claim_after
        self._invalidations = f"{namespace}:cache-invalidate"
        self.near = NearCache()
        self._pubsub: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._confirmations: dict[str, list[asyncio.Future[None]]] = {}
        self._confirmed: set[str] = set()
        self._release = self.client.register_script(RELEASE_IF_OWNER)
        self._extend = self.client.register_script(EXTEND_IF_OWNER)
        self._consumers: list[StreamConsumer] = []
        self._queues = RedisQueues(self.client, namespace)

    def unavailable(self, error: Exception) -> BrokerUnavailable:
        """The error a call fails with while Redis is unreachable, logged once in a while."""
        self.down = True
        self.outages.warning(type(error).__name__, "Redis broker at %s is unavailable (%s); "
                             "calls fail with BrokerUnavailable until it answers",
                             self.address, error)
        return BrokerUnavailable(self.address, str(error))

    # pub/sub: bus messages and invalidations arrive on one connection

    async def _listen_to(self, channel: str) -> None:
        """Subscribe this process's pub/sub connection; returns once Redis confirmed it."""
        if self._pubsub is None:
            self._pubsub = self.client.pubsub()
        confirmed = asyncio.get_running_loop().create_future()
        waiting = self._confirmations.setdefault(channel, [])
        waiting.append(confirmed)
        try:
            await self._pubsub.subscribe(channel)
            if self._listener is None:
                self._listener = asyncio.get_running_loop().create_task(self._listen())
            await asyncio.wait_for(confirmed, self.read_timeout)
        except TimeoutError:
            raise RedisTimeoutError(f"Redis did not confirm SUBSCRIBE {channel} within "
                                    f"{self.read_timeout}s") from None
        finally:
            if confirmed in waiting:
                waiting.remove(confirmed)
            if not waiting and self._confirmations.get(channel) is waiting:
                del self._confirmations[channel]

    async def _listen(self) -> None:
        """Hand out pub/sub messages; survives outages (redis-py subscribes again on reconnect).

        Invalidations missed while the connection was down cannot be known: near copies go.
        """
        while True:
            try:
                message = await self._pubsub.get_message(timeout=LISTEN_POLL)
            except Exception as error:
                self._confirmed.clear()
                self.near.clear()
                self.outages.warning("pubsub", "Redis pub/sub at %s failed (%s); near copies "
                                     "dropped, reconnecting", self.address, error)
                await asyncio.sleep(RECONNECT_PAUSE)
                continue
            if message is not None:
                self._take(message)

    def _take(self, message: dict[str, Any]) -> None:
        """One pub/sub message: a confirmed (un)subscription, an invalidation, a bus message."""
        channel = message["channel"].decode()
        if message["type"] == "subscribe":
            self._confirmed.add(channel)
            for future in self._confirmations.pop(channel, ()):
                if not future.done():
                    future.set_result(None)
        elif message["type"] == "unsubscribe":
            self._confirmed.discard(channel)
        elif message["type"] == "message":
            prefix = f"{self._ns}:bus:"
            if channel == self._invalidations:
                self.near.invalidate(message["data"].decode())
            elif channel.startswith(prefix):
                self.channels.deliver(channel[len(prefix):], message["data"].decode())

    # bus

    @_outage_is_unavailable
    async def publish(self, channel: str, payload: str) -> None:
        await self.client.publish(f"{self._ns}:bus:{channel}", payload)

    @_outage_is_unavailable
    async def _join(self, channel: str) -> None:
        await self._listen_to(f"{self._ns}:bus:{channel}")

    @_outage_is_unavailable
    async def _leave(self, channel: str) -> None:
        await self._pubsub.unsubscribe(f"{self._ns}:bus:{channel}")

    # cache

    @_outage_is_unavailable
    async def cache_get(self, key: str, fresh: bool = False) -> str | None:
        if not fresh:
            payload = self.near.get(key)
            if payload is not None:
                return payload
        if self._invalidations not in self._confirmed:
            async with self._membership:
                if self._invalidations not in self._confirmed:
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

    @_outage_is_unavailable
    async def cache_set(self, key: str, payload: str, ttl: float | None) -> None:
        self.near.invalidate(key)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(f"{self._ns}:cache:{key}", payload, px=None if ttl is None else _ms(ttl))
            pipe.publish(self._invalidations, key)
            await pipe.execute()

    @_outage_is_unavailable
    async def cache_delete(self, key: str) -> None:
        self.near.invalidate(key)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(f"{self._ns}:cache:{key}")
            pipe.publish(self._invalidations, key)
            await pipe.execute()

    # key-values

    @_outage_is_unavailable
    async def kv_get(self, key: str) -> str | None:
        # fw's pool answers bytes (redis-py's types also allow str, for decode_responses)
        found = cast("bytes | None", await self.client.get(f"{self._ns}:kv:{key}"))
        return None if found is None else found.decode()

    @_outage_is_unavailable
    async def kv_set(self, key: str, payload: str, ttl: float | None) -> None:
        await self.client.set(f"{self._ns}:kv:{key}", payload,
                              px=None if ttl is None else _ms(ttl))

    @_outage_is_unavailable
    async def kv_delete(self, key: str) -> None:
        await self.client.delete(f"{self._ns}:kv:{key}")

    @_outage_is_unavailable
    async def kv_increment(self, key: str, by: Number) -> Number:
        name = f"{self._ns}:kv:{key}"
        try:
            if isinstance(by, int):
                try:
                    return int(await self.client.incrby(name, by))
                except ResponseError as error:
                    if "not an integer" not in str(error):
                        raise
            return float(await self.client.incrbyfloat(name, by))
        except ResponseError as error:
            raise TypeError(f"cannot increment key {key!r}: it does not hold a number "
                            f"({error})") from None

    # locks

    @_outage_is_unavailable
    async def lock_acquire(self, name: str, ttl: float) -> str | None:
        token = secrets.token_hex(8)
        taken = await self.client.set(f"{self._ns}:lock:{name}", token, nx=True, px=_ms(ttl))
        return token if taken else None

    @_outage_is_unavailable
    async def lock_release(self, name: str, token: str) -> bool:
        return bool(await self._release(keys=[f"{self._ns}:lock:{name}"], args=[token]))

    @_outage_is_unavailable
    async def lock_extend(self, name: str, token: str, ttl: float) -> bool:
        return bool(await self._extend(keys=[f"{self._ns}:lock:{name}"], args=[token, _ms(ttl)]))

    @_outage_is_unavailable
    async def lock_is_held(self, name: str) -> bool:
        return bool(await self.client.exists(f"{self._ns}:lock:{name}"))

    # queues

    @_outage_is_unavailable
    async def produce(self, queue: str, payload: str, delay: float = 0.0) -> None:
        await self._queues.produce(queue, payload, delay)

    @_outage_is_unavailable
    async def consume(self, queue: str, handler: JobHandler, max_parallel: int,
                      max_attempts: int | None = None) -> StopConsuming:
        consumer = StreamConsumer(self.client, self._queues, queue, handler, max_parallel,
                                  max_attempts, self._claim_after, self.read_timeout,
                                  self.outages)
        await consumer.start()
        self._consumers.append(consumer)

        async def stop() -> None:
            if consumer in self._consumers:
                self._consumers.remove(consumer)
                await consumer.stop()
        return stop

    @_outage_is_unavailable
    async def queue_status(self) -> QueueStatus:
        return await self._queues.status()

    @_outage_is_unavailable
    async def queue_retry_dead(self, queue: str) -> int:
        return await self._queues.retry_dead(queue)

    @_outage_is_unavailable
    async def queue_purge(self, queue: str) -> int:
        return await self._queues.purge(queue)

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
