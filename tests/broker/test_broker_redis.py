"""Several processes (or hosts) pointed at one Redis share the broker: near copies are
invalidated over pub/sub, and a job left by a killed consumer is taken over."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import uuid

import orjson

from framework.broker import BrokerBus, BrokerCache, BrokerKeyValue, BrokerQueue
from framework.broker.redis_adapter import RedisAdapter
from tests.broker.broker_support import eventually


def test_two_servers_share_cache_key_values_and_bus(redis_url: str) -> None:
    namespace = f"test-{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        one, two = RedisAdapter(redis_url, namespace), RedisAdapter(redis_url, namespace)
        try:
            cache_one, cache_two = BrokerCache(one), BrokerCache(two)
            await cache_one.set("session:1", {"user": 1})
            assert await cache_two.get("session:1") == {"user": 1}
            assert two.near.get("session:1") is not None  # the next read costs no round trip
            await cache_one.set("session:1", {"user": 2})

            async def invalidated() -> bool:
                return await cache_two.get("session:1") == {"user": 2}
            await eventually(invalidated, message="the near copy to be invalidated")

            await asyncio.gather(*(BrokerKeyValue(adapter).increment("hits")
                                   for adapter in (one, two) for _ in range(100)))
            assert await BrokerKeyValue(two).get("hits") == 200

            seen: list[object] = []
            subscription = await BrokerBus(two).subscribe("news")
            subscription.subscribe(seen.append)
            for number in range(50):
                await BrokerBus(one).publish("news", number)

            async def arrived() -> bool:
                return len(seen) == 50
            await eventually(arrived)
            assert seen == list(range(50))
        finally:
            await one.close()
            await two.close()
    asyncio.run(main())


def _hang_on_a_job(redis_url: str, namespace: str, report: object) -> None:
    async def main() -> None:
        adapter = RedisAdapter(redis_url, namespace, claim_after=0.3)

        async def hang(message: object) -> None:
            report.send_bytes(orjson.dumps(message))
            await asyncio.Event().wait()
        await BrokerQueue(adapter).consume("emails", hang)
        await asyncio.Event().wait()
    asyncio.events._set_running_loop(None)
    asyncio.run(main())


def test_a_job_of_a_killed_consumer_is_taken_over(redis_url: str) -> None:
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    context = multiprocessing.get_context("fork")
    here, there = context.Pipe()
    doomed = context.Process(target=_hang_on_a_job, args=(redis_url, namespace, there))
    doomed.start()
    try:
        async def produce() -> None:
            adapter = RedisAdapter(redis_url, namespace)
            await BrokerQueue(adapter).produce("emails", {"to": "ada@example.com"})
            await adapter.close()
        asyncio.run(produce())
        assert here.poll(10) and orjson.loads(here.recv_bytes()) == {"to": "ada@example.com"}
    finally:
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.join(10)

    async def take_over() -> object:
        adapter = RedisAdapter(redis_url, namespace, claim_after=0.3)
        jobs: asyncio.Queue[object] = asyncio.Queue()
        consumer = await BrokerQueue(adapter).consume("emails", jobs.put)
        try:
            return await asyncio.wait_for(jobs.get(), 10)
        finally:
            await consumer.stop()
            await adapter.close()
    assert asyncio.run(take_over()) == {"to": "ada@example.com"}
