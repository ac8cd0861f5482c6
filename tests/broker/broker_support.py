"""Broker helpers of the tests: polling, and the scenarios the multi-process tests run
(with framework.testing.broker_harness, which forks the children, or inside the workers of a real
``fw server:start``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from framework.testing.broker_harness import ChildContext, Facades


async def eventually(condition: Callable[[], Awaitable[Any]], timeout: float = 10.0,
                     message: str = "condition") -> Any:
    """Poll the async ``condition`` until it returns something truthy, or fail at the deadline."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := await condition()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(0.005)
    return result


# scenarios for several processes; ``ctx`` messages come from the test's conductor

MESSAGES = 100


async def increment_a_thousand_times(broker: Facades, ctx: ChildContext) -> list[int]:
    return list(await asyncio.gather(*(broker.kv.increment("counter") for _ in range(1000))))


async def publish_to_everyone(broker: Facades, ctx: ChildContext) -> list[dict[str, list]]:
    """Two subscriptions here; every process publishes MESSAGES once all are subscribed."""
    received: list[dict[str, list]] = [{}, {}]
    for seen in received:
        subscription = await broker.bus.subscribe("news")
        subscription.subscribe(
            lambda message, seen=seen: seen.setdefault(message["from"], []).append(message["n"]))
    await ctx.tell("ready")
    publishers = await ctx.hear("go")
    for number in range(MESSAGES):
        await broker.bus.publish("news", {"from": str(ctx.index), "n": number})

    async def all_arrived() -> bool:
        return all(sum(map(len, seen.values())) >= publishers * MESSAGES for seen in received)
    await eventually(all_arrived, message="every process's messages")
    return received


async def read_after_write(broker: Facades, ctx: ChildContext) -> list[list[int]]:
    """Keep a near copy of "config"; write it or check it when the conductor says."""
    seen = []
    while True:
        await broker.cache.get("config")
        await ctx.tell("read")
        while (turn := await ctx.hear("turn")) is not None and "write" in turn:
            await broker.cache.set("config", {"version": turn["write"]})
            await ctx.tell("written")
        if turn is None:
            return seen
        seen.append([turn["check"], (await broker.cache.get("config"))["version"]])


async def build_report_together(broker: Facades, ctx: ChildContext) -> list[Any]:
    async def build() -> dict:
        await broker.kv.increment("builds")
        await asyncio.sleep(0.05)  # the work: others ask meanwhile
        return {"built_by": ctx.index}
    await ctx.tell("ready")
    await ctx.hear("go")
    report = await broker.cache.get_or_set("report", build, ttl=60)
    await ctx.tell("built")
    await ctx.hear("check")
    return [report, await broker.kv.get("builds")]


async def hold_lock_or_wait(broker: Facades, ctx: ChildContext) -> str:
    """Child 0 takes the lock and hangs until killed; child 1 tries once told to."""
    if ctx.index == 0:
        await broker.lock.try_lock("job", ttl=300)
        await ctx.tell("locked")
        await asyncio.Event().wait()
    await ctx.hear("go")
    held = await broker.lock.try_lock("job", ttl=30)
    return "got the lock" if held else "still locked"


async def die_while_handling(broker: Facades, ctx: ChildContext) -> Any:
    """Child 0 takes a job and hangs until killed; child 1 consumes once told to."""
    if ctx.index == 0:
        async def hang(message: Any) -> None:
            await ctx.tell("handling", message)
            await asyncio.Event().wait()
        await broker.queue.consume("emails", hang)
        await ctx.tell("consuming")
        await asyncio.Event().wait()
    await ctx.hear("consume")
    jobs: asyncio.Queue[Any] = asyncio.Queue()
    consumer = await broker.queue.consume("emails", jobs.put)
    job = await jobs.get()
    await consumer.stop()
    return job


async def send_garbage(broker: Facades, ctx: ChildContext) -> list[Any]:
    """Garbage frames and malformed broker requests, then an ordinary call."""
    import orjson

    from framework.broker.channel import HEADER

    for payload in (b"\xff not json", b"[1, 2]", orjson.dumps({"k": "b"}),
                    orjson.dumps({"k": "b", "id": "x", "op": "kinc"}),
                    orjson.dumps({"k": "b", "batch": [1, {"op": "kget"}, None]}),
                    orjson.dumps({"k": "b", "batch": "not a list"})):
        ctx.channel._writer.write(HEADER.pack(len(payload)) + payload)
    errors = []
    for op, fields in (("nonsense", {}), ("kinc", {"key": 5, "by": 1}), ("kinc", {"key": "x"})):
        try:
            await broker.adapter._call(op, **fields)
        except ValueError as error:
            errors.append(str(error))
    return [errors, await broker.kv.increment("after garbage")]
