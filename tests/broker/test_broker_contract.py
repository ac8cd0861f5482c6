"""One contract, three adapters: memory, pipe (a child process over a real pipe to a
BrokerHost in the test process) and Redis (a real redis-server)."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from framework.broker import LockTimeout
from framework.broker.engine import BrokerEngine
from framework.broker.memory import MemoryAdapter
from framework.testing.broker_harness import Facades, run_children, run_in_process
from tests.broker.broker_support import eventually

Run = Callable[[Callable], Any]


@pytest.fixture(params=["memory", "pipe", "redis"])
def run(request: pytest.FixtureRequest) -> Run:
    """Runs a scenario against one adapter and returns its result."""
    if request.param == "memory":
        return lambda scenario: as_json(run_in_process(MemoryAdapter(BrokerEngine()), scenario))
    if request.param == "pipe":
        return lambda scenario: run_children(scenario)[0]
    from framework.broker.redis_adapter import RedisAdapter
    url = request.getfixturevalue("redis_url")
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    return lambda scenario: as_json(run_in_process(RedisAdapter(url, namespace=namespace),
                                                   scenario))


def as_json(result: Any) -> Any:
    """Results come back from a child as JSON; make the in-process ones alike."""
    return orjson.loads(orjson.dumps(result))


# bus


async def publish_and_subscribe(broker: Facades, ctx: Any) -> Any:
    first, second = await broker.bus.subscribe("news"), await broker.bus.subscribe("news")
    seen_first: list[Any] = []
    seen_second: list[Any] = []
    first.subscribe(seen_first.append)

    async def keep(message: Any) -> None:
        seen_second.append(message)
    second.subscribe(keep)
    for number in range(200):
        await broker.bus.publish("news", {"n": number})
    await broker.bus.publish("other", {"n": -1})

    async def all_arrived() -> bool:
        return len(seen_first) == 200 and len(seen_second) == 200
    await eventually(all_arrived, message="200 messages to both subscribers")
    await first.unsubscribe()
    await second.unsubscribe()
    return seen_first, seen_second


def test_bus_delivers_each_message_once_to_every_subscriber_in_order(run: Run) -> None:
    first, second = run(publish_and_subscribe)
    assert first == second == [{"n": number} for number in range(200)]


async def iterate_until_unsubscribed(broker: Facades, ctx: Any) -> Any:
    subscription = await broker.bus.subscribe("jobs")
    for number in range(3):
        await broker.bus.publish("jobs", number)
    received = []
    async for message in subscription:
        received.append(message)
        if len(received) == 3:
            await subscription.unsubscribe()
    await broker.bus.publish("jobs", "after unsubscribe")
    late = await broker.bus.subscribe("jobs")
    await broker.bus.publish("jobs", "marker")
    marker = await anext(aiter(late))
    await late.unsubscribe()
    return received, marker


def test_async_for_ends_at_unsubscribe_and_nothing_arrives_after(run: Run) -> None:
    received, marker = run(iterate_until_unsubscribed)
    assert received == [0, 1, 2]
    assert marker == "marker"


async def unsubscribed_handler(broker: Facades, ctx: Any) -> Any:
    stays, leaves = await broker.bus.subscribe("t"), await broker.bus.subscribe("t")
    seen_stays: list[Any] = []
    seen_leaves: list[Any] = []
    stays.subscribe(seen_stays.append)
    leaves.subscribe(seen_leaves.append)
    await broker.bus.publish("t", 1)

    async def first_arrived() -> bool:
        return seen_stays == [1] and seen_leaves == [1]
    await eventually(first_arrived)
    await leaves.unsubscribe()
    await broker.bus.publish("t", 2)

    async def second_arrived() -> bool:
        return seen_stays == [1, 2]
    await eventually(second_arrived)
    return seen_leaves


def test_unsubscribed_handler_gets_no_more_messages(run: Run) -> None:
    assert run(unsubscribed_handler) == [1]


# cache


async def cache_roundtrip(broker: Facades, ctx: Any) -> Any:
    cache = broker.cache
    absent = await cache.get("session:1")
    await cache.set("session:1", {"user": 7})
    stored = await cache.get("session:1")
    await cache.set("session:1", {"user": 8})
    overwritten = await cache.get("session:1")
    await cache.delete("session:1")
    return absent, stored, overwritten, await cache.get("session:1")


def test_cache_set_get_delete(run: Run) -> None:
    assert run(cache_roundtrip) == [None, {"user": 7}, {"user": 8}, None]


async def cache_ttl(broker: Facades, ctx: Any) -> Any:
    await broker.cache.set("short", "soon gone", 0.2)
    await broker.cache.set("long", "stays", 60)
    first = await broker.cache.get("short")

    async def expired() -> bool:
        return await broker.cache.get("short") is None
    await eventually(expired, message="cache entry to expire")
    return first, await broker.cache.get("long")


def test_cache_entry_expires_after_its_ttl(run: Run) -> None:
    assert run(cache_ttl) == ["soon gone", "stays"]


async def get_or_set(broker: Facades, ctx: Any) -> Any:
    calls = []

    async def build() -> dict:
        calls.append(1)
        await asyncio.sleep(0)
        return {"report": len(calls)}
    together = await asyncio.gather(*(broker.cache.get_or_set("report", build, ttl=60)
                                      for _ in range(10)))
    later = await broker.cache.get_or_set("report", lambda: {"report": "rebuilt"})
    return together, later, len(calls)


def test_get_or_set_builds_once_and_then_serves_the_cached_value(run: Run) -> None:
    together, later, calls = run(get_or_set)
    assert together == [{"report": 1}] * 10
    assert later == {"report": 1}
    assert calls == 1


# key-values


async def kv_roundtrip(broker: Facades, ctx: Any) -> Any:
    kv = broker.kv
    absent = await kv.get("k")
    await kv.set("k", {"a": [1, 2]})
    stored = await kv.get("k")
    await kv.delete("k")
    await kv.set("brief", 1, ttl=0.2)

    async def expired() -> bool:
        return await kv.get("brief") is None
    await eventually(expired, message="key-value to expire")
    return absent, stored, await kv.get("k")


def test_kv_set_get_delete_and_ttl(run: Run) -> None:
    assert run(kv_roundtrip) == [None, {"a": [1, 2]}, None]


async def increments(broker: Facades, ctx: Any) -> Any:
    kv = broker.kv
    results = await asyncio.gather(*(kv.increment("hits") for _ in range(500)))
    await kv.set("balance", 10)
    minus = await kv.increment("balance", -3)
    half = await kv.increment("halves", 0.5)
    await asyncio.gather(*(kv.increment("halves", 0.25) for _ in range(100)))
    return sorted(results), await kv.get("hits"), minus, half, await kv.get("halves")


def test_increment_is_exact_for_ints_and_floats(run: Run) -> None:
    results, total, minus, half, halves = run(increments)
    assert results == list(range(1, 501))
    assert total == 500 and minus == 7
    assert half == 0.5 and halves == 25.5


async def increment_non_number(broker: Facades, ctx: Any) -> Any:
    await broker.kv.set("name", "ada")
    try:
        await broker.kv.increment("name")
    except TypeError as error:
        return str(error)
    return "no error"


def test_increment_of_a_non_number_raises_type_error(run: Run) -> None:
    assert "name" in run(increment_non_number)


# values


@dataclass
class Session:
    user: int
    started: datetime.datetime


async def dataclass_values(broker: Facades, ctx: Any) -> Any:
    started = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    await broker.cache.set("s", Session(1, started))
    await broker.kv.set("d", started)
    return await broker.cache.get("s"), await broker.kv.get("d")


def test_dataclasses_and_datetimes_come_back_as_json(run: Run) -> None:
    session, moment = run(dataclass_values)
    assert session == {"user": 1, "started": "2026-01-02T03:04:05+00:00"}
    assert moment == "2026-01-02T03:04:05+00:00"


async def bad_values(broker: Facades, ctx: Any) -> Any:
    seen: list[Any] = []
    subscription = await broker.bus.subscribe("c")
    subscription.subscribe(seen.append)
    await broker.kv.set("k", "before")
    errors = []
    calls = [lambda: broker.bus.publish("c", object()),
             lambda: broker.cache.set("k", {1, 2}),
             lambda: broker.kv.set("k", b"bytes"),
             lambda: broker.queue.produce("q", object()),
             lambda: broker.cache.get_or_set("g", object)]
    for call in calls:
        try:
            await call()
        except TypeError as error:
            errors.append(str(error))
    await broker.bus.publish("c", "good")

    async def arrived() -> bool:
        return bool(seen)
    await eventually(arrived)
    return errors, seen, await broker.kv.get("k"), await broker.cache.get("k")


def test_unserialisable_values_raise_type_error_and_send_nothing(run: Run) -> None:
    errors, seen, kv_value, cached = run(bad_values)
    assert len(errors) == 5
    assert "not JSON-serialisable" in errors[0] and "'c'" in errors[0]
    assert seen == ["good"]
    assert kv_value == "before" and cached is None


# locks


async def locks(broker: Facades, ctx: Any) -> Any:
    lock = broker.lock
    held = await lock.try_lock("job", ttl=30)
    taken = await lock.try_lock("job", ttl=30)
    locked = await lock.is_locked("job")
    try:
        async with lock.lock("job", ttl=30, timeout=0.1):
            timed_out = False
    except LockTimeout:
        timed_out = True
    await held.release()
    async with lock.lock("job", ttl=30, timeout=1) as again:
        during = await lock.try_lock("job")
        waiter = asyncio.ensure_future(lock.lock("job", timeout=5))
        await asyncio.sleep(0.01)
        waiting = not waiter.done()
    handed_over = await waiter
    await handed_over.release()
    return (held is not None, taken, locked, timed_out, again.name, during, waiting,
            await lock.is_locked("job"))


def test_lock_is_exclusive_times_out_and_hands_over(run: Run) -> None:
    assert run(locks) == [True, None, True, True, "job", None, True, False]


async def lock_ttl(broker: Facades, ctx: Any) -> Any:
    await broker.lock.try_lock("brief", ttl=0.2)

    async def free() -> Any:
        return await broker.lock.try_lock("brief", ttl=30)
    held = await eventually(free, message="lock ttl to end")
    return await held.release()


def test_lock_is_free_after_its_ttl(run: Run) -> None:
    assert run(lock_ttl) is True


async def lock_extend(broker: Facades, ctx: Any) -> Any:
    lease = await broker.lock.try_lock("lease", ttl=0.5)
    assert lease is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 1.5  # three ttls, renewed without letting go
    taken_meanwhile = []
    while loop.time() < deadline:
        extended = await lease.extend(0.5)
        taken_meanwhile.append(await broker.lock.try_lock("lease", ttl=30))
        await asyncio.sleep(0.1)
    # once its ttl ends unrenewed, another caller takes it and the old holder cannot extend
    other = await eventually(lambda: broker.lock.try_lock("lease", ttl=30),
                             message="the lease to lapse")
    late = await lease.extend(0.5)
    await other.release()
    return extended, [held for held in taken_meanwhile if held is not None], late


def test_a_held_lock_is_extended_without_letting_go(run: Run) -> None:
    assert run(lock_extend) == [True, [], False]


# queues


async def queue_waits_then_delivers_once(broker: Facades, ctx: Any) -> Any:
    for number in range(20):
        await broker.queue.produce("emails", {"n": number})
    first: list[Any] = []
    second: list[Any] = []

    async def handle_second(message: Any) -> None:
        second.append(message["n"])
    consumers = [await broker.queue.consume("emails", lambda m: first.append(m["n"])),
                 await broker.queue.consume("emails", handle_second, max_parallel=4)]

    async def all_handled() -> bool:
        return len(first) + len(second) == 20
    await eventually(all_handled, message="20 jobs handled")
    for consumer in consumers:
        await consumer.stop()
    return sorted(first + second)


def test_queue_messages_wait_for_a_consumer_and_go_to_exactly_one(run: Run) -> None:
    assert run(queue_waits_then_delivers_once) == list(range(20))


async def queue_redelivery(broker: Facades, ctx: Any) -> Any:
    attempts: list[Any] = []

    async def flaky(message: Any) -> None:
        attempts.append(message)
        if len(attempts) < 3:
            raise RuntimeError("transient failure")
    consumer = await broker.queue.consume("work", flaky)
    await broker.queue.produce("work", "job-1")

    async def succeeded() -> bool:
        return len(attempts) == 3
    await eventually(succeeded, message="third attempt")
    await consumer.stop()
    return attempts


def test_queue_message_is_delivered_again_after_a_handler_error(run: Run) -> None:
    assert run(queue_redelivery) == ["job-1"] * 3


async def queue_max_parallel(broker: Facades, ctx: Any) -> Any:
    running, peak, done = 0, 0, []
    release = asyncio.Event()

    async def slow(message: Any) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1
        done.append(message)
    consumer = await broker.queue.consume("slow", slow, max_parallel=3)
    for number in range(6):
        await broker.queue.produce("slow", number)

    async def three_running() -> bool:
        return running == 3
    await eventually(three_running)
    release.set()

    async def all_done() -> bool:
        return len(done) == 6
    await eventually(all_done)
    await consumer.stop()
    return peak


def test_queue_consumer_runs_at_most_max_parallel_jobs(run: Run) -> None:
    assert run(queue_max_parallel) == 3
