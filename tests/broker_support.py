"""Running broker scenarios in real processes: a BrokerHost here, facades in forked children.

A scenario is ``async def scenario(broker: Facades, ctx) -> result`` using only the facades
and ``ctx`` (``index``, ``tell(name, data)``, ``hear(name)``), so the same functions can run
in any process that has a broker: in-process (memory, Redis), in children over pipes
(``run_children``), or inside the workers of a real ``fw server:start``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from framework.broker import (
    BrokerAdapter,
    BrokerBus,
    BrokerCache,
    BrokerHost,
    BrokerKeyValue,
    BrokerLock,
    BrokerQueue,
)
from framework.broker.engine import BrokerEngine
from framework.broker.memory import MemoryAdapter
from framework.broker.pipe import attach_to_master
from framework.channel import Channel

CHILD_TIMEOUT = 60.0


@dataclass
class Facades:
    """The five facades of one process, over one adapter."""

    adapter: BrokerAdapter
    bus: BrokerBus
    cache: BrokerCache
    kv: BrokerKeyValue
    lock: BrokerLock
    queue: BrokerQueue

    @classmethod
    def over(cls, adapter: BrokerAdapter) -> Facades:
        return cls(adapter, BrokerBus(adapter), BrokerCache(adapter), BrokerKeyValue(adapter),
                   BrokerLock(adapter), BrokerQueue(adapter))


class Mailbox:
    """Named messages between a child and the test process (frames with ``"k": "t"``)."""

    def __init__(self, channel: Channel | None) -> None:
        self.channel = channel
        self._boxes: dict[str, asyncio.Queue[Any]] = {}

    def box(self, name: str) -> asyncio.Queue[Any]:
        return self._boxes.setdefault(name, asyncio.Queue())

    async def tell(self, name: str, data: Any = None) -> None:
        if self.channel is None:
            self.box(name).put_nowait(data)
        else:
            await self.channel.send({"k": "t", "say": name, "data": data})

    async def hear(self, name: str, timeout: float = CHILD_TIMEOUT) -> Any:
        return await asyncio.wait_for(self.box(name).get(), timeout)


class ChildContext(Mailbox):
    """What a scenario gets as ``ctx``: its index and a mailbox to the test process."""

    def __init__(self, channel: Channel | None, index: int = 0) -> None:
        super().__init__(channel)
        self.index = index


Scenario = Callable[[Facades, ChildContext], Awaitable[Any]]


def run_in_process(adapter: BrokerAdapter, scenario: Scenario) -> Any:
    """Run ``scenario`` here, on ``adapter``, closing it after."""
    async def main() -> Any:
        try:
            return await asyncio.wait_for(scenario(Facades.over(adapter), ChildContext(None)),
                                          CHILD_TIMEOUT)
        finally:
            await adapter.close()
    return asyncio.run(main())


# the child side


def _child_main(conn: Any, index: int, scenario: Scenario) -> None:
    asyncio.events._set_running_loop(None)  # forked from a process that may run a loop
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    code = 1
    try:
        asyncio.run(_child(conn, index, scenario))
        code = 0
    finally:
        os._exit(code)


async def _child(conn: Any, index: int, scenario: Scenario) -> None:
    channel = await Channel.open(conn, "test process")
    adapter = attach_to_master(channel)
    ctx = ChildContext(channel, index)

    async def read() -> None:
        while (message := await channel.receive()) is not None:
            if message.get("k") == "b":
                adapter.handle(message)
            elif message.get("k") == "t":
                ctx.box(message["say"]).put_nowait(message.get("data"))
        await adapter.close()

    reader = asyncio.get_running_loop().create_task(read())
    try:
        result = await asyncio.wait_for(scenario(Facades.over(adapter), ctx), CHILD_TIMEOUT)
        await ctx.tell("result", result)
    except BaseException:
        await ctx.tell("error", traceback.format_exc())
    await ctx.hear("exit")
    reader.cancel()
    await channel.close()


# the test process's side


class Child(Mailbox):
    """One forked child as the test process sees it."""

    def __init__(self, index: int, process: multiprocessing.Process, channel: Channel) -> None:
        super().__init__(channel)
        self.index = index
        self.process = process
        self.outcome: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)


Conductor = Callable[[list[Child], BrokerHost, Facades], Awaitable[Any]]


def run_children(scenario: Scenario, count: int = 1,
                 conduct: Conductor | None = None) -> list[Any]:
    """Fork ``count`` children running ``scenario`` against a BrokerHost in this process.

    Returns each child's result in order; a child's exception fails the test with its
    traceback. ``conduct(children, host, master)`` runs meanwhile in this process, where
    ``master`` are facades on the host's own engine (as the master's own listeners have);
    a child it kills has the result None.
    """
    context = multiprocessing.get_context("fork")
    ends, processes = [], []
    for index in range(count):
        here, there = context.Pipe(duplex=True)
        process = context.Process(target=_child_main, args=(there, index, scenario),
                                  daemon=True)
        process.start()
        there.close()
        ends.append(here)
        processes.append(process)
    try:
        return asyncio.run(_serve(ends, processes, conduct))
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
            process.join(10)


async def _serve(ends: list[Any], processes: list[multiprocessing.Process],
                 conduct: Conductor | None) -> list[Any]:
    engine = BrokerEngine()
    host = BrokerHost(engine)
    master = Facades.over(MemoryAdapter(engine, "master"))
    children = []
    for index, (end, process) in enumerate(zip(ends, processes, strict=True)):
        channel = await Channel.open(end, f"child {index}", host.frame_limit)
        children.append(Child(index, process, channel))
    readers = [asyncio.get_running_loop().create_task(_read(child, host))
               for child in children]
    if conduct is not None:
        await asyncio.wait_for(conduct(children, host, master), CHILD_TIMEOUT)
    outcomes = await asyncio.wait_for(asyncio.gather(*(c.outcome for c in children)),
                                      CHILD_TIMEOUT)
    for child in children:
        if not child.channel.is_closing:
            await child.tell("exit")
    await asyncio.wait_for(asyncio.gather(*readers), CHILD_TIMEOUT)
    failures = [f"child {index}:\n{error}" for index, (kind, error) in enumerate(outcomes)
                if kind == "error"]
    if failures:
        raise AssertionError("\n".join(failures))
    return [value for _, value in outcomes]


async def _read(child: Child, host: BrokerHost) -> None:
    """The master's per-worker reader loop, as the supervisor has it."""
    channel = child.channel
    host.attach(child.index, channel)
    while (message := await channel.receive()) is not None:
        kind = message.get("k")
        if kind == "b":
            host.handle(child.index, message)
        elif kind == "t" and message.get("say") in ("result", "error"):
            if not child.outcome.done():
                child.outcome.set_result((message["say"], message.get("data")))
        elif kind == "t":
            child.box(message["say"]).put_nowait(message.get("data"))
    host.detach(child.index)
    if not child.outcome.done():
        child.outcome.set_result(("killed", None))
    await channel.close()


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

    from framework.channel import HEADER

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
