"""Which broker a process gets: memory in one process (the engine the master's BrokerHost
serves), the pipe in a worker, Redis by broker_url; nothing leaks across a fork."""

from __future__ import annotations

import asyncio
import multiprocessing

import orjson
import pytest

from framework.broker import BrokerHost, BrokerKeyValue, adapter_for_process
from framework.broker.memory import MemoryAdapter
from framework.broker.pipe import PipeAdapter, attach_to_master
from framework.broker.redis_adapter import RedisAdapter
from framework.channel import Channel
from framework.config import FrameworkConfig


def test_one_process_gets_the_engine_its_broker_host_serves() -> None:
    adapter = adapter_for_process(FrameworkConfig())
    assert isinstance(adapter, MemoryAdapter)
    assert adapter_for_process(FrameworkConfig()) is adapter
    assert BrokerHost().engine is adapter.engine


def test_a_redis_url_selects_the_redis_adapter(redis_url: str) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/15"  # a url of this test's own: adapters are per url
    adapter = adapter_for_process(FrameworkConfig(broker_url=url))
    assert isinstance(adapter, RedisAdapter)

    async def roundtrip() -> object:
        kv = BrokerKeyValue(adapter)
        await kv.set("selected", "redis")
        value = await kv.get("selected")
        await adapter.close()
        return value
    assert asyncio.run(roundtrip()) == "redis"


def test_an_unknown_broker_url_is_an_error_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="broker_url.*'amqp://x'"):
        adapter_for_process(FrameworkConfig(broker_url="amqp://x"))


def _in_child(result: object) -> None:
    async def main() -> list[str]:
        here, there = multiprocessing.Pipe()
        inherited = adapter_for_process(FrameworkConfig())
        fresh = inherited.engine.kv_get("parent") is None
        attach_to_master(await Channel.open(here, "nobody"))
        piped = adapter_for_process(FrameworkConfig())
        return [str(fresh), type(piped).__name__]
    asyncio.events._set_running_loop(None)
    result.send_bytes(orjson.dumps(asyncio.run(main())))


def test_a_forked_worker_gets_a_fresh_engine_then_the_pipe() -> None:
    adapter_for_process(FrameworkConfig()).engine.kv_set("parent", "1")
    context = multiprocessing.get_context("fork")
    here, there = context.Pipe()
    child = context.Process(target=_in_child, args=(there,))
    child.start()
    try:
        assert orjson.loads(here.recv_bytes()) == ["True", PipeAdapter.__name__]
    finally:
        child.join(10)
    assert adapter_for_process(FrameworkConfig()).engine.kv_get("parent") == "1"
