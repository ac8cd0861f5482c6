"""Broker limits over a real socket pair in one process: a worker's PipeAdapter on one end,
the master's BrokerHost on the other. Big values, big batches, big answers and a silent
master: every call completes or raises, and only the calls that cannot go fail."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from framework import App, FrameworkModule
from framework.broker import BrokerBus, BrokerCache, BrokerHost, BrokerKeyValue, BrokerQueue
from framework.broker.channel import Channel
from framework.broker.engine import BrokerEngine
from framework.broker.memory import MemoryAdapter
from framework.broker.outage import BrokerUnavailable
from framework.broker.pipe import PipeAdapter
from framework.broker.redis_adapter import RedisAdapter
from framework.config import FrameworkConfig

LIVENESS = 60.0  # a hang is the failure, not a slow answer
MB = 1024 * 1024


@dataclass
class Pipe:
    """A worker's broker facades, talking to a BrokerHost over a real socket pair."""

    adapter: PipeAdapter
    kv: BrokerKeyValue
    host: BrokerHost


@contextlib.asynccontextmanager
async def worker_and_master(config: FrameworkConfig | None = None, answer: bool = True,
                            call_timeout: float = 60.0) -> AsyncIterator[Pipe]:
    """The master reads the worker's frames; with ``answer=False`` it never answers them."""
    here, there = socket.socketpair()
    host = BrokerHost(BrokerEngine(), config)
    master_end = await Channel.open(here, "worker", host.frame_limit)
    worker_end = await Channel.open(there, "master", host.frame_limit)  # as attach_to_master
    adapter = PipeAdapter(worker_end, call_timeout)
    host.attach("worker", master_end)

    async def serve_worker() -> None:
        while (message := await master_end.receive()) is not None:
            if answer:
                host.handle("worker", message)

    async def serve_master() -> None:
        while (message := await worker_end.receive()) is not None:
            adapter.handle(message)
        await adapter.close()

    loop = asyncio.get_running_loop()
    readers = [loop.create_task(serve_worker()), loop.create_task(serve_master())]
    try:
        yield Pipe(adapter, BrokerKeyValue(adapter, config), host)
    finally:
        await worker_end.close()
        await master_end.close()
        await asyncio.wait_for(asyncio.gather(*readers, return_exceptions=True), LIVENESS)


async def within_liveness(*calls: object) -> list[object]:
    """Run ``calls`` at once (one loop turn); each outcome, value or exception."""
    gathered = asyncio.gather(*calls, return_exceptions=True)  # type: ignore[call-overload]
    return await asyncio.wait_for(gathered, LIVENESS)


async def test_a_value_over_broker_max_value_mb_raises_at_the_call_before_anything_is_sent(
) -> None:
    config = FrameworkConfig(broker_max_value_mb=0.01)  # 10,485 bytes
    adapter = MemoryAdapter(BrokerEngine())
    big = "x" * 11_000
    calls = {
        "kv.set": BrokerKeyValue(adapter, config).set("k", big),
        "cache.set": BrokerCache(adapter, config).set("k", big),
        "cache.get_or_set": BrokerCache(adapter, config).get_or_set("built", lambda: big),
        "bus.publish": BrokerBus(adapter, config).publish("news", big),
        "queue.produce": BrokerQueue(adapter, config).produce("jobs", big),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match="over the broker's limit of 10485 bytes") as raised:
            await call
        assert "broker_max_value_mb" in str(raised.value), name
    assert await adapter.kv_get("k") is None
    assert await adapter.cache_get("k") is None
    assert await adapter.cache_get("built") is None
    await BrokerKeyValue(adapter, config).set("k", "x" * 10_000)  # under the limit: stored
    assert len(await BrokerKeyValue(adapter, config).get("k")) == 10_000


async def test_the_value_limit_holds_with_redis_too(redis_url: str) -> None:
    adapter = RedisAdapter(redis_url, f"test-{uuid.uuid4().hex[:8]}")
    try:
        kv = BrokerKeyValue(adapter, FrameworkConfig(broker_max_value_mb=0.01))
        with pytest.raises(ValueError, match="over the broker's limit of 10485 bytes"):
            await kv.set("k", "x" * 11_000)
        assert await kv.get("k") is None
    finally:
        await adapter.close()


async def test_the_injected_facades_take_the_limit_from_the_config() -> None:
    app = App(imports=[FrameworkModule(broker_max_value_mb=1)])
    kv = app.get(BrokerKeyValue)
    await kv.set("fits", "x" * (MB - 10))
    with pytest.raises(ValueError, match=f"limit of {MB} bytes"):
        await kv.set("too-big", "x" * MB)
    default_kv = App(imports=[FrameworkModule()]).get(BrokerKeyValue)
    with pytest.raises(ValueError, match=f"limit of {8 * MB} bytes"):
        await default_kv.set("too-big", "x" * (8 * MB))


async def test_calls_of_one_loop_turn_beyond_one_frame_are_split_and_all_answered() -> None:
    async with worker_and_master() as pipe:
        value = "x" * MB
        outcomes = await within_liveness(*(pipe.kv.set(f"k{n}", value) for n in range(20)))
        assert outcomes == [None] * 20
        lengths = await within_liveness(*(pipe.kv.get(f"k{n}") for n in range(20)))
        assert [len(text) for text in lengths] == [MB] * 20  # type: ignore[arg-type]


async def test_a_value_at_the_limit_that_doubles_when_escaped_still_goes_both_ways() -> None:
    async with worker_and_master() as pipe:
        worst = '"' * ((8 * MB - 2) // 2)  # 8 MiB of JSON text, 16 MiB inside a frame
        assert await within_liveness(pipe.kv.set("quotes", worst)) == [None]
        assert await within_liveness(pipe.kv.get("quotes")) == [worst]


async def test_an_answer_too_big_for_the_pipe_fails_only_its_own_call() -> None:
    async with worker_and_master() as pipe:
        pipe.host.engine.kv_set("huge", '"' + "x" * (pipe.host.frame_limit + 1) + '"')
        got, counted = await within_liveness(pipe.kv.get("huge"), pipe.kv.increment("n"))
        assert isinstance(got, ValueError)
        assert "frame limit of the pipe" in str(got) and str(pipe.host.frame_limit) in str(got)
        assert counted == 1
        assert await pipe.kv.increment("n") == 2


async def test_a_call_too_big_for_the_pipe_fails_alone_and_the_others_of_its_turn_go() -> None:
    generous = FrameworkConfig(broker_max_value_mb=64)  # more than this pipe's frames hold
    async with worker_and_master() as pipe:
        kv = BrokerKeyValue(pipe.adapter, generous)
        too_big, unsendable, counted = await within_liveness(
            kv.set("big", "x" * (20 * MB)), kv.increment("n", 2**70), kv.increment("n"))
        assert isinstance(too_big, ValueError) and "frame limit" in str(too_big)
        assert isinstance(unsendable, TypeError)
        assert counted == 1
        assert await kv.get("big") is None


async def test_a_call_the_master_never_answers_raises_broker_unavailable() -> None:
    async with worker_and_master(answer=False, call_timeout=0.4) as pipe:
        outcomes = await within_liveness(pipe.kv.get("k"), pipe.kv.increment("n"))
        for outcome in outcomes:
            assert isinstance(outcome, BrokerUnavailable)
            assert "did not answer a call within 0.4 s" in str(outcome)
