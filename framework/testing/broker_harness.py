"""Broker scenarios in real processes: a BrokerHost here, pipe adapters in forked children.

The master/worker broker wiring in miniature, without a server: each child talks to this
process's engine over its own pipe, as a worker talks to its master. A scenario is
``async def scenario(broker: Facades, ctx: ChildContext) -> result``, using only the facades
and ``ctx`` (``index``, ``tell(name, data)``, ``hear(name)``), so the same function runs
in any process that has a broker. fw's contract tests and its broker benchmark run here;
so can an app's own check of what several processes see.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Final, Literal, TypedDict, TypeVar

from framework.broker.adapter import BrokerAdapter
from framework.broker.bus import BrokerBus
from framework.broker.channel import Channel
from framework.broker.engine import BrokerEngine
from framework.broker.facades import BrokerCache, BrokerKeyValue, BrokerLock, BrokerQueue
from framework.broker.host import BrokerHost
from framework.broker.memory import MemoryAdapter
from framework.broker.pipe import attach_to_master
from framework.broker.protocol import KIND

CHILD_TIMEOUT = 60.0
MAIL: Final = "t"  # the kind of a Mailbox frame, beside the broker's on the same pipe
T = TypeVar("T")


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


class MailFrame(TypedDict):
    """One Mailbox message: ``data`` (any JSON value) said under ``say``."""

    k: Literal["t"]
    say: str
    data: object


class Mailbox:
    """Named messages between a child and this process (MailFrames on its pipe)."""

    def __init__(self, channel: Channel | None) -> None:
        self.channel = channel
        self._boxes: dict[str, asyncio.Queue[object]] = {}

    def box(self, name: str) -> asyncio.Queue[object]:
        return self._boxes.setdefault(name, asyncio.Queue())

    async def tell(self, name: str, data: object = None) -> None:
        if self.channel is None:
            self.box(name).put_nowait(data)
        else:
            await self.channel.send(MailFrame(k=MAIL, say=name, data=data))

    def put(self, message: Mapping[str, object]) -> None:
        """File a MailFrame from the pipe in its box."""
        self.box(str(message["say"])).put_nowait(message.get("data"))

    async def hear(self, name: str, timeout: float = CHILD_TIMEOUT) -> Any:
        """The next data said under ``name`` (any JSON value), waiting up to ``timeout``."""
        return await asyncio.wait_for(self.box(name).get(), timeout)


class ChildContext(Mailbox):
    """What a scenario gets as ``ctx``: its index and a mailbox to this process."""

    def __init__(self, channel: Channel | None, index: int = 0) -> None:
        super().__init__(channel)
        self.index = index


Scenario = Callable[[Facades, ChildContext], Awaitable[T]]


def run_in_process(adapter: BrokerAdapter, scenario: Scenario[T]) -> T:
    """Run ``scenario`` here, on ``adapter`` (memory, Redis), closing the adapter after."""
    async def main() -> T:
        try:
            return await asyncio.wait_for(scenario(Facades.over(adapter), ChildContext(None)),
                                          CHILD_TIMEOUT)
        finally:
            await adapter.close()
    return asyncio.run(main())


# -- the child's side ------------------------------------------------------------------------

def _child_main(conn: Connection, index: int, scenario: Scenario[object]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    code = 1
    try:
        asyncio.run(_child(conn, index, scenario))
        code = 0
    finally:
        os._exit(code)


async def _child(conn: Connection, index: int, scenario: Scenario[object]) -> None:
    channel = await Channel.open(conn, "test process")
    adapter = attach_to_master(channel)
    ctx = ChildContext(channel, index)

    async def read() -> None:
        while (message := await channel.receive()) is not None:
            if message.get("k") == KIND:
                adapter.handle(message)
            elif message.get("k") == MAIL:
                ctx.put(message)
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


# -- this process's side ---------------------------------------------------------------------

class Child(Mailbox):
    """One forked child as this process sees it."""

    def __init__(self, index: int, process: BaseProcess, channel: Channel) -> None:
        super().__init__(channel)
        self.index = index
        self.process = process
        self.outcome: asyncio.Future[tuple[str, object]] = (
            asyncio.get_running_loop().create_future())

    @property
    def pid(self) -> int:
        assert self.process.pid is not None  # started before it became a Child
        return self.process.pid

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)


Conductor = Callable[[list[Child], BrokerHost, Facades], Awaitable[object]]


def run_children(scenario: Scenario[object], count: int = 1,
                 conduct: Conductor | None = None) -> list[Any]:
    """Fork ``count`` children running ``scenario`` against a BrokerHost in this process.

    Returns each child's result in order; a child's exception raises AssertionError with
    its traceback. ``conduct(children, host, master)`` runs meanwhile in this process,
    where ``master`` are facades on the host's own engine (as the master's own listeners
    have); a child it kills has the result None.
    """
    context = multiprocessing.get_context("fork")
    ends: list[Connection] = []
    processes: list[BaseProcess] = []
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
        for started in processes:
            if started.is_alive():
                started.kill()
            started.join(10)


async def _serve(ends: list[Connection], processes: list[BaseProcess],
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
        if child.channel is not None and not child.channel.is_closing:
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
    assert channel is not None  # a Child always has its pipe
    host.attach(child.index, channel)
    while (message := await channel.receive()) is not None:
        kind = message.get("k")
        if kind == KIND:
            host.handle(child.index, message)
        elif kind == MAIL and message.get("say") in ("result", "error"):
            if not child.outcome.done():
                child.outcome.set_result((str(message["say"]), message.get("data")))
        elif kind == MAIL:
            child.put(message)
    host.detach(child.index)
    if not child.outcome.done():
        child.outcome.set_result(("killed", None))
    await channel.close()
