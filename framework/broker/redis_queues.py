"""The Redis side of queue features: delayed jobs, dead letters, status, retry and purge.

A queue ``q`` is the stream ``<ns>:queue:q``; its delayed jobs wait in the ZSET
``<ns>:queue-delayed:q`` (scored by when they are due, wall-clock ms) until a consumer moves
them to the stream; its dead letters are the stream of the queue ``q.dead`` (so they can be
consumed like any queue), each entry also keeping the bare message for ``retry_dead``. Every
queue name produced to or consumed from is kept in the set ``<ns>:queues`` for ``status``.
Moves, retries and purges are Lua scripts, so processes doing them at once lose no job.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from framework.broker.adapter import QueueStatus
from framework.broker.queues import DEAD_SUFFIX, dead_queue, dead_record

GROUP = "fw"
MOVE_BATCH = 100
_TAG = 32  # hex characters before the payload in a delayed job's member: keeps members unique

MOVE_DUE = f"""
local due = redis.call("zrangebyscore", KEYS[1], "-inf", ARGV[1], "limit", 0, {MOVE_BATCH})
for _, member in ipairs(due) do
  redis.call("xadd", KEYS[2], "*", "v", string.sub(member, {_TAG + 1}), "n", 0)
  redis.call("zrem", KEYS[1], member)
end
return #due
"""

RETRY_DEAD = """
local entries = redis.call("xrange", KEYS[1], "-", "+")
for _, entry in ipairs(entries) do
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == "m" then redis.call("xadd", KEYS[2], "*", "v", fields[i + 1], "n", 0) end
  end
  redis.call("xdel", KEYS[1], entry[1])
end
return #entries
"""

PURGE = """
local running = {}
local pending = redis.pcall("xpending", KEYS[1], ARGV[1], "-", "+", 1000000000)
if type(pending) == "table" and not pending.err then
  for _, entry in ipairs(pending) do running[entry[1]] = true end
end
local dropped = 0
for _, entry in ipairs(redis.call("xrange", KEYS[1], "-", "+")) do
  if not running[entry[1]] then
    redis.call("xdel", KEYS[1], entry[1])
    dropped = dropped + 1
  end
end
dropped = dropped + redis.call("zcard", KEYS[2]) + redis.call("xlen", KEYS[3])
redis.call("del", KEYS[2], KEYS[3])
return dropped
"""


class RedisQueues:
    """Queue keys and the operations on them for one namespace."""

    def __init__(self, client: aioredis.Redis, namespace: str) -> None:
        self._client = client
        self._ns = namespace
        self._names = f"{namespace}:queues"
        self._move_due = client.register_script(MOVE_DUE)
        self._retry_dead = client.register_script(RETRY_DEAD)
        self._purge = client.register_script(PURGE)

    def stream(self, queue: str) -> str:
        return f"{self._ns}:queue:{queue}"

    def _delayed(self, queue: str) -> str:
        return f"{self._ns}:queue-delayed:{queue}"

    async def produce(self, queue: str, payload: str, delay: float = 0.0) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.sadd(self._names, queue)
            if delay > 0:
                due_ms = int((time.time() + delay) * 1000) + 1
                pipe.zadd(self._delayed(queue), {secrets.token_hex(_TAG // 2) + payload: due_ms})
            else:
                pipe.xadd(self.stream(queue), {"v": payload, "n": 0})
            await pipe.execute()

    async def known(self, queue: str) -> None:
        await cast("Awaitable[object]", self._client.sadd(self._names, queue))

    async def move_due(self, queue: str) -> int:
        """Move the delayed jobs of ``queue`` that are due to its stream; how many."""
        moved = await self._move_due(keys=[self._delayed(queue), self.stream(queue)],
                                     args=[int(time.time() * 1000)])
        return int(moved)

    def bury(self, pipe: aioredis.client.Pipeline, queue: str, payload: str, attempts: int,
             error: str) -> None:
        """Add to ``pipe`` the writing of a job's dead letter to ``<queue>.dead``."""
        pipe.xadd(self.stream(dead_queue(queue)),
                  {"v": dead_record(payload, attempts, error), "n": 0, "m": payload})

    async def status(self) -> QueueStatus:
        names = sorted(name.decode() if isinstance(name, bytes) else name
                       # redis-py 5 types smembers as a sync-or-async union, 8 as awaitable
                       # set[bytes | str]: a cast that is redundant under neither
                       for name in await cast("Awaitable[set[Any]]",
                                              self._client.smembers(self._names)))
        names = [name for name in names if not name.endswith(DEAD_SUFFIX)]
        async with self._client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.xlen(self.stream(name))
                pipe.xpending(self.stream(name), GROUP)
                pipe.zcard(self._delayed(name))
                pipe.xlen(self.stream(dead_queue(name)))
            answers = await pipe.execute(raise_on_error=False)
        status: QueueStatus = {}
        for index, name in enumerate(names):
            length, pending, delayed, dead = answers[4 * index: 4 * index + 4]
            running = 0 if isinstance(pending, ResponseError) else int(pending["pending"])
            status[name] = {"waiting": int(length) - running, "delayed": int(delayed),
                            "running": running, "dead": int(dead)}
        return status

    async def retry_dead(self, queue: str) -> int:
        moved = await self._retry_dead(keys=[self.stream(dead_queue(queue)), self.stream(queue)])
        return int(moved)

    async def purge(self, queue: str) -> int:
        dropped = await self._purge(keys=[self.stream(queue), self._delayed(queue),
                                          self.stream(dead_queue(queue))], args=[GROUP])
        return int(dropped)
