"""Declared jobs on real servers: consumers in every worker and in the one process, a job scope
per job, schedules run once per tick across the workers, and the testing app runs consumers."""

from __future__ import annotations

import os
import signal
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from framework import FrameworkError, jobs, provide
from framework.broker import BrokerQueue
from framework.jobs import LEASE_TTL
from framework.testing import create_testing_app
from tests.broker.broker_support import eventually
from tests.jobs.jobs_support import JobsServer
from tests.server.workers_support import get
from tests.support import wait_for


def test_200_jobs_over_2_workers_are_each_done_once_in_a_scope_of_their_own(
        tmp_path: Path) -> None:
    with JobsServer(tmp_path, workers=2) as server:
        server.wait_serving()
        assert get(server.port, "/produce?count=200")[0] == 200
        done = wait_for(lambda: (jobs := server.record.of("job")) and len(jobs) >= 200 and jobs,
                        30, message="200 jobs done")
        assert Counter(job["n"] for job in done) == Counter(range(200))
        assert len({job["context"] for job in done}) == 200  # one job-scoped instance per job
        assert all(job["audit_context"] == job["context"] for job in done)  # shared in the job
        assert {job["pid"] for job in done} <= set(server.remember_children())


def test_the_one_process_runs_consumers_and_schedules(tmp_path: Path) -> None:
    with JobsServer(tmp_path, workers=0) as server:
        server.wait_serving()
        assert get(server.port, "/produce?count=3")[0] == 200
        wait_for(lambda: len(server.record.of("job")) == 3, 15, message="3 jobs done")
        ticks = wait_for(lambda: (ticks := server.record.of("tick")) and ticks, 15,
                         message="a scheduled run")
        assert {line["pid"] for line in server.record.lines()} == {server.pid}
        assert ticks[0]["context"]


def test_a_job_running_when_the_server_stops_finishes_before_it_exits(tmp_path: Path) -> None:
    with JobsServer(tmp_path, workers=0) as server:
        server.wait_serving()
        assert get(server.port, "/produce_slow?seconds=1")[0] == 200
        wait_for(lambda: server.record.of("slow_started"), 15, message="the job started")
        server.signal(signal.SIGTERM)
        assert server.wait_exit(20) == 0
        assert len(server.record.of("slow_finished")) == 1


def test_a_1s_schedule_runs_5_to_7_times_in_6s_with_2_workers(tmp_path: Path) -> None:
    with JobsServer(tmp_path, workers=2) as server:
        server.wait_serving()
        first = wait_for(lambda: server.record.of("tick"), 20, message="a first tick")[0]
        wait_for(lambda: server.record.of("tick")[-1]["at"] >= first["at"] + 6, 30,
                 message="the runs of 6 seconds")
        ticks = server.record.of("tick")
        in_6s = [tick for tick in ticks if tick["at"] < first["at"] + 6]
        assert 5 <= len(in_6s) <= 7, [tick["at"] - first["at"] for tick in ticks]
        assert len({tick["context"] for tick in ticks}) == len(ticks)  # a scope per run


def test_servers_sharing_redis_run_each_tick_once_and_a_killed_holder_hands_over(
        tmp_path: Path, redis_url: str) -> None:
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    with JobsServer(tmp_path / "a", workers=1, broker_url=redis_url) as first, \
            JobsServer(tmp_path / "b", workers=1, broker_url=redis_url) as second:
        first.wait_serving()
        wait_for(lambda: first.record.of("tick"), 20, message="a tick: the first server leads")
        second.wait_serving()
        both = [first.record, second.record]

        def ticks() -> list[dict[str, Any]]:
            return sorted((tick for record in both for tick in record.of("tick")),
                          key=lambda tick: tick["at"])
        start = time.time()
        wait_for(lambda: ticks()[-1]["at"] >= start + 6, 30, message="6 s of ticks")
        in_6s = [tick for tick in ticks() if start <= tick["at"] < start + 6]
        assert 5 <= len(in_6s) <= 7, [tick["at"] - start for tick in ticks()]

        holder = wait_for(lambda: next((server for server in (first, second)
                                        if holds_lease(server)), None), 15,
                          message="a server holding the scheduler lease")
        heir = second if holder is first else first
        os.killpg(holder.pid, signal.SIGKILL)
        killed = time.time()
        after = wait_for(lambda: [tick for tick in heir.record.of("tick")
                                  if tick["at"] > killed + 1] or None,
                         LEASE_TTL + 10, message="ticks after the holder died")
        assert after[0]["at"] <= killed + LEASE_TTL + 2  # handed over within the lease ttl
        wait_for(lambda: len([tick for tick in heir.record.of("tick")
                              if tick["at"] >= after[0]["at"]]) >= 4, 15,
                 message="ticks go on")
        since = [tick["at"] for tick in heir.record.of("tick") if tick["at"] >= after[0]["at"]]
        # the ticks missed while nobody held the lease run once: the catch-up run and at most
        # one on-time tick in its first second, not a burst of one per missed tick
        assert len([at for at in since if at < since[0] + 1]) <= 2, since


def holds_lease(server: JobsServer) -> bool:
    """The server's /metrics says one of its processes holds the scheduler lease."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as answer:
        lines = answer.read().decode().splitlines()
    return any(line.startswith("fw_scheduler_lease_holder") and float(line.split()[-1]) == 1
               for line in lines)


class Context:
    def __init__(self) -> None:
        self.id = uuid.uuid4().hex


class Seen:
    def __init__(self) -> None:
        self.jobs: list[tuple[str, str]] = []


class Mailer:
    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    @jobs.consumer("emails", max_attempts=3)
    async def send(self, message: dict[str, str], context: Context) -> None:
        self.seen.jobs.append((message["to"], context.id))


async def test_the_testing_app_runs_a_declared_consumer() -> None:
    testing = create_testing_app(providers=[Seen, provide(Context, scope="request")],
                                 listeners=[Mailer])
    async with testing:
        queue: BrokerQueue = testing.get(BrokerQueue)
        await queue.produce("emails", {"to": "a@example.org"})
        await queue.produce("emails", {"to": "b@example.org"})
        seen: Seen = testing.get(Seen)
        await eventually(async_value(lambda: len(seen.jobs) == 2), message="2 jobs done")
    assert sorted(to for to, _ in seen.jobs) == ["a@example.org", "b@example.org"]
    assert len({context for _, context in seen.jobs}) == 2


def async_value(condition: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return condition()
    return check


class Unprovided:
    pass


class NeedsUnprovided:
    @jobs.consumer("orders")
    async def take(self, message: dict[str, str], missing: Unprovided) -> None: ...


async def test_a_job_parameter_no_module_provides_stops_the_start_naming_it() -> None:
    testing = create_testing_app(listeners=[NeedsUnprovided])
    with pytest.raises(FrameworkError, match="NeedsUnprovided.take -> .*Unprovided"):
        async with testing:
            pass


def test_declarations_refuse_what_cannot_run() -> None:
    with pytest.raises(ValueError, match="not a cron expression"):
        jobs.cron("61 * * * *")
    with pytest.raises(ValueError, match="interval > 0"):
        jobs.every()
    with pytest.raises(ValueError, match="max_attempts"):
        jobs.consumer("orders", max_attempts=0)
