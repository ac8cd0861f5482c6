"""Which broker a process's container gives: a memory broker of the App's own, Redis by
broker_url, the pipe once a worker is told so; nothing leaks across a fork."""

from __future__ import annotations

import asyncio
import json
import multiprocessing

from framework import App, FrameworkModule
from framework.broker import BrokerAdapter, BrokerKeyValue, BrokerUnavailable
from framework.broker.channel import Channel
from framework.broker.memory import MemoryAdapter
from framework.broker.pipe import attach_to_master
from framework.broker.redis_adapter import RedisAdapter
from tests.support import run_in_fork


def test_each_app_has_a_memory_broker_of_its_own_once_per_process() -> None:
    first, second = App(imports=[FrameworkModule()]), App(imports=[FrameworkModule()])
    adapter = first.get(BrokerAdapter)
    assert isinstance(adapter, MemoryAdapter) and first.get(BrokerAdapter) is adapter

    async def written_then_read() -> tuple[object, object]:
        await first.get(BrokerKeyValue).set("key", "first")
        return await first.get(BrokerKeyValue).get("key"), await second.get(BrokerKeyValue).get(
            "key")
    assert asyncio.run(written_then_read()) == ("first", None)


def test_a_redis_url_selects_the_redis_adapter(redis_url: str) -> None:
    app = App(imports=[FrameworkModule(broker_url=redis_url)])
    adapter = app.get(BrokerAdapter)
    assert isinstance(adapter, RedisAdapter)

    async def roundtrip() -> object:
        kv = app.get(BrokerKeyValue)
        await kv.set("selected", "redis")
        value = await kv.get("selected")
        await adapter.close()
        return value
    assert asyncio.run(roundtrip()) == "redis"


def test_a_forked_child_builds_its_own_broker_until_told_to_use_the_pipe() -> None:
    app = App(imports=[FrameworkModule()])
    asyncio.run(app.get(BrokerKeyValue).set("parent", "1"))

    def child() -> str:
        async def main() -> list[object]:
            own = app.get(BrokerAdapter)
            here, _there = multiprocessing.Pipe()
            pipe = attach_to_master(await Channel.open(here, "nobody"))
            app.override_in_process(BrokerAdapter, pipe)
            await pipe.close()
            try:
                await app.get(BrokerKeyValue).get("parent")
            except BrokerUnavailable as error:
                through_the_pipe = str(error)
            return [own.engine.kv_get("parent"), app.get(BrokerAdapter) is pipe,
                    through_the_pipe]
        return json.dumps(asyncio.run(main()))

    assert json.loads(run_in_fork(child)) == [
        None, True, "the broker at the master is unavailable: its pipe is closed"]
    assert asyncio.run(app.get(BrokerKeyValue).get("parent")) == "1"
    assert isinstance(app.get(BrokerAdapter), MemoryAdapter)
