"""Queue features, one contract over the three adapters (memory, pipe to a real BrokerHost,
a real redis-server): delays, attempts and dead letters, status, retry_dead and purge."""

from __future__ import annotations

import time
from typing import Any

from framework.testing.broker_harness import Facades
from tests.broker.broker_support import eventually
from tests.broker.test_broker_contract import Run, run  # noqa: F401  (the three-adapter fixture)

EMPTY = {"waiting": 0, "delayed": 0, "running": 0, "dead": 0}


async def queue_counts(broker: Facades, queue: str) -> dict[str, int]:
    return (await broker.queue.status()).get(queue, EMPTY)


async def delayed_job(broker: Facades, ctx: Any) -> Any:
    ran: dict[str, float] = {}
    consumer = await broker.queue.consume("later", lambda m: ran.setdefault(m, time.monotonic()))
    produced = time.monotonic()
    await broker.queue.produce("later", "held", delay=2)
    await broker.queue.produce("later", "now")

    async def now_ran() -> bool:
        return "now" in ran
    await eventually(now_ran, message="the job without delay")
    while_held = await queue_counts(broker, "later")

    async def held_ran() -> bool:
        return "held" in ran
    await eventually(held_ran, timeout=15, message="the delayed job")
    await consumer.stop()
    return while_held, ran["now"] - produced, ran["held"] - produced


def test_a_delayed_job_waits_its_delay_and_the_others_do_not(run: Run) -> None:  # noqa: F811
    while_held, now_after, held_after = run(delayed_job)
    assert while_held == {"waiting": 0, "delayed": 1, "running": 0, "dead": 0}
    assert now_after < 2.0
    assert 2.0 <= held_after < 15


async def always_failing(broker: Facades, ctx: Any) -> Any:
    attempts: list[Any] = []

    def fail(message: Any) -> None:
        attempts.append(message)
        raise ValueError(f"bad {message['id']}")
    failing = await broker.queue.consume("flaky", fail, max_attempts=3)
    await broker.queue.produce("flaky", {"id": 7})

    async def dead() -> bool:
        return (await queue_counts(broker, "flaky"))["dead"] == 1
    await eventually(dead, message="the dead letter")
    await failing.stop()
    letters: list[Any] = []
    reader = await broker.queue.consume("flaky.dead", letters.append)

    async def read() -> bool:
        return len(letters) == 1
    await eventually(read, message="the dead letter read from flaky.dead")
    await reader.stop()
    return attempts, letters


def test_a_failing_job_is_tried_max_attempts_times_then_dead_with_its_last_error(
        run: Run) -> None:  # noqa: F811
    attempts, letters = run(always_failing)
    assert attempts == [{"id": 7}] * 3
    assert letters == [{"message": {"id": 7}, "attempts": 3, "error": "ValueError: bad 7"}]


async def retry_dead_letters(broker: Facades, ctx: Any) -> Any:
    def fail(message: Any) -> None:
        raise RuntimeError("down")
    failing = await broker.queue.consume("mail", fail, max_attempts=2)
    for number in range(3):
        await broker.queue.produce("mail", number)

    async def all_dead() -> dict[str, int] | None:
        counts = await queue_counts(broker, "mail")
        return counts if counts["dead"] == 3 else None
    dead_counts = await eventually(all_dead, message="three dead letters")
    await failing.stop()
    moved = await broker.queue.retry_dead("mail")
    after_retry = await queue_counts(broker, "mail")
    done: list[Any] = []
    working = await broker.queue.consume("mail", done.append, max_attempts=2)

    async def all_done() -> bool:
        return len(done) == 3
    await eventually(all_done, message="the retried jobs done")
    await working.stop()
    return dead_counts, moved, after_retry, sorted(done), await queue_counts(broker, "mail")


def test_retry_dead_puts_dead_letters_back_and_they_run_again(run: Run) -> None:  # noqa: F811
    dead_counts, moved, after_retry, done, finally_ = run(retry_dead_letters)
    assert dead_counts == {"waiting": 0, "delayed": 0, "running": 0, "dead": 3}
    assert moved == 3
    assert after_retry == {"waiting": 3, "delayed": 0, "running": 0, "dead": 0}
    assert done == [0, 1, 2]
    assert finally_ == EMPTY


async def purge_a_queue(broker: Facades, ctx: Any) -> Any:
    def fail(message: Any) -> None:
        raise RuntimeError("down")
    failing = await broker.queue.consume("reports", fail, max_attempts=1)
    await broker.queue.produce("reports", "doomed")

    async def dead() -> bool:
        return (await queue_counts(broker, "reports"))["dead"] == 1
    await eventually(dead, message="the dead letter")
    await failing.stop()
    for number in range(3):
        await broker.queue.produce("reports", number)
    for number in range(2):
        await broker.queue.produce("reports", number, delay=60)
    await broker.queue.produce("other", "kept")
    before = await queue_counts(broker, "reports")
    dropped = await broker.queue.purge("reports")
    return before, dropped, await queue_counts(broker, "reports"), \
        await queue_counts(broker, "other")


def test_purge_drops_waiting_delayed_and_dead_jobs_of_that_queue_only(
        run: Run) -> None:  # noqa: F811
    before, dropped, after, other = run(purge_a_queue)
    assert before == {"waiting": 3, "delayed": 2, "running": 0, "dead": 1}
    assert dropped == 6
    assert after == EMPTY
    assert other == {"waiting": 1, "delayed": 0, "running": 0, "dead": 0}


async def bad_arguments(broker: Facades, ctx: Any) -> Any:
    errors = []
    for call in (lambda: broker.queue.produce("q", 1, delay=-1),
                 lambda: broker.queue.produce("q", 1, delay="soon"),
                 lambda: broker.queue.consume("q", print, max_attempts=0)):
        try:
            await call()
        except ValueError as error:
            errors.append(str(error))
    return errors


def test_bad_delay_or_max_attempts_is_a_clear_value_error(run: Run) -> None:  # noqa: F811
    assert run(bad_arguments) == [
        "delay must be a number of seconds >= 0, got -1",
        "delay must be a number of seconds >= 0, got 'soon'",
        "max_attempts must be an int >= 1, got 0",
    ]
