"""The broker shared by several real processes: four children over real pipes to one
BrokerHost in the test process (the master's part), which also uses it through its own
engine. The scenarios are in tests/broker/broker_support.py."""

from __future__ import annotations

from framework.broker import BrokerHost
from framework.testing.broker_harness import Child, Facades, run_children
from tests.broker import broker_support as scenarios
from tests.broker.broker_support import eventually

PROCESSES = 4


def test_concurrent_increments_from_four_processes_are_exact() -> None:
    results = run_children(scenarios.increment_a_thousand_times, PROCESSES)
    assert max(max(r) for r in results) == PROCESSES * 1000
    assert sorted(n for r in results for n in r) == list(range(1, PROCESSES * 1000 + 1))


async def start_together(children: list[Child], data: object = None) -> None:
    for child in children:
        await child.hear("ready")
    for child in children:
        await child.tell("go", data)


def test_each_bus_message_reaches_every_subscriber_in_every_process_once() -> None:
    async def conduct(children: list[Child], host: BrokerHost, master: Facades) -> None:
        await start_together(children, PROCESSES + 1)
        for number in range(scenarios.MESSAGES):
            await master.bus.publish("news", {"from": "master", "n": number})

    results = run_children(scenarios.publish_to_everyone, PROCESSES, conduct)
    publishers = [str(index) for index in range(PROCESSES)] + ["master"]
    expected = {sender: list(range(scenarios.MESSAGES)) for sender in publishers}
    for per_subscription in results:
        assert len(per_subscription) == 2
        for received in per_subscription:
            assert received == expected


def test_a_completed_cache_write_is_seen_by_every_other_process() -> None:
    async def conduct(children: list[Child], host: BrokerHost, master: Facades) -> None:
        await master.cache.set("config", {"version": 1})
        for round_number in range(2, 12):
            for child in children:
                await child.hear("read")
            writer = [*children, None][round_number % (len(children) + 1)]
            if writer is None:  # the master's turn: its own facades write to the engine
                await master.cache.set("config", {"version": round_number})
            else:
                await writer.tell("turn", {"write": round_number})
                await writer.hear("written")
            for child in children:
                await child.tell("turn", {"check": round_number})
        for child in children:
            await child.hear("read")
            await child.tell("turn", None)

    results = run_children(scenarios.read_after_write, PROCESSES, conduct)
    for seen in results:
        assert seen == [[n, n] for n in range(2, 12)]


def test_get_or_set_builds_once_when_every_process_asks_at_once() -> None:
    async def conduct(children: list[Child], host: BrokerHost, master: Facades) -> None:
        await start_together(children)
        for child in children:
            await child.hear("built")
        for child in children:
            await child.tell("check")

    results = run_children(scenarios.build_report_together, PROCESSES, conduct)
    assert [builds for _, builds in results] == [1] * PROCESSES
    assert len({str(report) for report, _ in results}) == 1


def test_a_lock_held_by_a_killed_process_is_free_once_the_host_detaches_it() -> None:
    async def conduct(children: list[Child], host: BrokerHost, master: Facades) -> None:
        holder, waiter = children
        await holder.hear("locked")
        assert await master.lock.is_locked("job")
        assert await master.lock.try_lock("job") is None
        holder.kill()
        await holder.outcome  # set once the reader loop saw EOF and detached the process
        assert not await master.lock.is_locked("job")
        await waiter.tell("go")

    results = run_children(scenarios.hold_lock_or_wait, 2, conduct)
    assert results == [None, "got the lock"]


def test_a_job_whose_process_was_killed_mid_handling_goes_to_another_consumer() -> None:
    async def conduct(children: list[Child], host: BrokerHost, master: Facades) -> None:
        doomed, survivor = children
        await doomed.hear("consuming")
        await master.queue.produce("emails", {"to": "ada@example.com"})
        assert await doomed.hear("handling") == {"to": "ada@example.com"}
        doomed.kill()
        await doomed.outcome
        await survivor.tell("consume")

    results = run_children(scenarios.die_while_handling, 2, conduct)
    assert results == [None, {"to": "ada@example.com"}]


def test_the_host_survives_garbage_frames() -> None:
    async def conduct(children: list[Child], host: BrokerHost, master: Facades) -> None:
        async def counted() -> bool:
            return await master.kv.get("after garbage") == 2
        await eventually(counted, message="both children to count after the garbage")

    results = run_children(scenarios.send_garbage, 2, conduct)
    for errors, value in results:
        assert value in (1, 2)
        assert len(errors) == 3 and "unknown 'nonsense'" in errors[0]
        assert "'key' must be a string" in errors[1] and "'by'" in errors[2]
