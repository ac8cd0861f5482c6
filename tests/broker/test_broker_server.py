"""The broker in a real ``fw server:start --workers 3``: three workers and the master share
counters, bus messages, cache writes and builds, locks and jobs; killed workers leave
nothing held. One server serves the pipe tests, in file order; then two servers share one
Redis."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import ServerProcess, pid_alive, wait_for

WORKERS = 3
APP_SOURCE = '''
"""An app whose processes all act on broker commands published on the bus."""

import asyncio
import os

from framework import App, FrameworkModule, ProcessInfo, event_dispatcher, events, http
from framework.broker import (BrokerAdapter, BrokerBus, BrokerCache, BrokerKeyValue,
                              BrokerLock, BrokerQueue)

NEWS = []


class BrokerCommands:
    """In every process (master included): act on the commands the tests publish."""

    def __init__(self, bus: BrokerBus, cache: BrokerCache, kv: BrokerKeyValue,
                 queue: BrokerQueue, process: ProcessInfo) -> None:
        self.bus, self.cache, self.kv, self.queue = bus, cache, kv, queue
        self.process = process

    @event_dispatcher.listen(events.on_server_bootstrap)
    async def listen(self, event) -> None:
        (await self.bus.subscribe("news")).subscribe(NEWS.append)
        (await self.bus.subscribe("commands")).subscribe(self.run)
        if self.process.is_worker:
            await self.queue.consume("jobs", self.handle_job)
        await self.kv.increment("listening")

    async def run(self, command: dict) -> None:
        pid = os.getpid()
        if command["do"] == "increment":
            await asyncio.gather(*(self.kv.increment("counter") for _ in range(1000)))
            await self.kv.increment("increment-done")
        elif command["do"] == "report-news":
            await self.kv.set(f"news:{pid}", NEWS)
        elif command["do"] == "read-cache":
            await self.kv.set(f"cache:{pid}:{command['round']}", await self.cache.get("config"))
        elif command["do"] == "build":
            report = await self.cache.get_or_set("report", self.build_report)
            await self.kv.set(f"report:{pid}", report)

    async def build_report(self) -> dict:
        await self.kv.increment("builds")
        await asyncio.sleep(0.2)
        return {"built_by": os.getpid()}

    async def handle_job(self, job: dict) -> None:
        first_delivery = await self.kv.get(f"job:{job['id']}:taken_by") is None
        await self.kv.set(f"job:{job['id']}:taken_by", os.getpid())
        if first_delivery and job.get("hang"):
            await asyncio.Event().wait()
        await self.kv.set(f"job:{job['id']}:done_by", os.getpid())


class BrokerController:
    def __init__(self, bus: BrokerBus, cache: BrokerCache, kv: BrokerKeyValue,
                 lock: BrokerLock, queue: BrokerQueue, adapter: BrokerAdapter) -> None:
        self.bus, self.cache, self.kv, self.lock, self.queue = bus, cache, kv, lock, queue
        self.adapter = adapter

    @http.post("/command")
    async def command(self, do: str, round: int = 0) -> dict:
        await self.bus.publish("commands", {"do": do, "round": round})
        return {"pid": os.getpid()}

    @http.post("/news")
    async def news(self, count: int) -> dict:
        for number in range(count):
            await self.bus.publish("news", {"from": os.getpid(), "n": number})
        return {"pid": os.getpid()}

    @http.get("/kv")
    async def get_kv(self, key: str) -> dict:
        return {"pid": os.getpid(), "value": await self.kv.get(key)}

    @http.post("/cache")
    async def set_cache(self, value: int) -> dict:
        await self.cache.set("config", value)
        return {"pid": os.getpid()}

    @http.post("/lock")
    async def hold_lock(self) -> dict:
        held = await self.lock.try_lock("job", ttl=300)
        return {"pid": os.getpid(), "held": held is not None}

    @http.get("/lock")
    async def lock_state(self) -> dict:
        return {"pid": os.getpid(), "locked": await self.lock.is_locked("job")}

    @http.post("/jobs")
    async def produce(self, id: str, hang: bool = False) -> dict:
        await self.queue.produce("jobs", {"id": id, "hang": hang})
        return {"pid": os.getpid()}

    @http.post("/garbage")
    async def garbage(self) -> dict:
        writer = self.adapter._channel._writer
        for payload in (b"\\xff not json", b"[1]", b'{"k": "b"}', b'{"k": "b", "op": "kinc"}'):
            writer.write(len(payload).to_bytes(4, "big") + payload)
        return {"pid": os.getpid(), "after": await self.kv.increment("after-garbage")}


app = App(imports=[FrameworkModule(worker_timeout=10, graceful_shutdown_timeout=5)],
          controllers=[BrokerController], listeners=[BrokerCommands], name="broker-test")
app.load_config_from_env()
'''


def call(port: int, method: str, path: str) -> dict[str, Any]:
    """One request on a fresh connection (so the kernel may pick any worker)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, headers={"Connection": "close"})
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, f"{method} {path}: {response.status} {body!r}"
        return json.loads(body)
    finally:
        connection.close()


class BrokerServer(ServerProcess):
    def kv(self, key: str) -> Any:
        return call(self.port, "GET", f"/kv?key={key}")["value"]

    def processes(self) -> list[int]:
        """The master and its live workers."""
        return [self.pid] + [pid for pid in self.remember_children() if pid_alive(pid)]

    def command(self, do: str, round_number: int = 0) -> None:
        call(self.port, "POST", f"/command?do={do}&round={round_number}")

    def wait_kv(self, key: str, expected: Any, message: str) -> None:
        wait_for(lambda: self.kv(key) == expected, timeout=30, message=message)


@contextlib.contextmanager
def serving(directory: Path, count: int, workers: int, **env: str) -> Iterator[list[int]]:
    """``count`` servers of the app, each with ``workers`` workers, all subscribed."""
    (directory / "broker_app.py").write_text(APP_SOURCE)
    env = {"APP_FRAMEWORK_WORKERS": str(workers), **env}
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(BrokerServer("broker_app:app", cwd=directory, env=env))
                   for _ in range(count)]
        for running in servers:
            running.wait_serving()
        wait_for(lambda: servers[0].kv("listening") == count * (workers + 1), timeout=30,
                 message="the masters and every worker to subscribe")
        yield servers


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerServer]:
    with serving(tmp_path_factory.mktemp("broker-server"), 1, WORKERS) as servers:
        assert len(servers[0].processes()) == WORKERS + 1
        yield servers[0]


def all_processes(servers: list[BrokerServer]) -> list[int]:
    return [pid for running in servers for pid in running.processes()]


def check_increments(servers: list[BrokerServer]) -> None:
    count = len(all_processes(servers))
    servers[0].command("increment")
    servers[-1].wait_kv("increment-done", count, "every process to finish incrementing")
    assert servers[-1].kv("counter") == count * 1000


def check_news(servers: list[BrokerServer]) -> None:
    publisher = call(servers[0].port, "POST", "/news?count=200")["pid"]
    processes = all_processes(servers)
    reader = servers[-1]

    def everyone_reported() -> bool:
        reader.command("report-news")
        return all(len(reader.kv(f"news:{pid}") or []) >= 200 for pid in processes)
    wait_for(everyone_reported, timeout=30, message="every process to receive the news")
    for pid in processes:
        assert reader.kv(f"news:{pid}") == [{"from": publisher, "n": n} for n in range(200)]


def check_cache_writes(servers: list[BrokerServer]) -> None:
    processes = all_processes(servers)
    for round_number, value in enumerate([1, 2, 3], start=1):
        writer = servers[round_number % len(servers)]
        call(writer.port, "POST", f"/cache?value={value}")
        writer.command("read-cache", round_number)
        for pid in processes:
            servers[0].wait_kv(f"cache:{pid}:{round_number}", value, f"process {pid} to read")


def check_one_build(servers: list[BrokerServer]) -> None:
    servers[0].command("build")
    processes = all_processes(servers)
    reader = servers[-1]
    wait_for(lambda: all(reader.kv(f"report:{pid}") for pid in processes), timeout=30,
             message="every process to get the report")
    assert reader.kv("builds") == 1
    assert len({json.dumps(reader.kv(f"report:{pid}")) for pid in processes}) == 1


def test_increments_from_the_master_and_three_workers_are_exact(server: BrokerServer) -> None:
    check_increments([server])


def test_each_bus_message_reaches_every_process_once_in_order(server: BrokerServer) -> None:
    check_news([server])


def test_a_completed_cache_write_is_read_by_every_process(server: BrokerServer) -> None:
    check_cache_writes([server])


def test_get_or_set_builds_once_when_every_process_asks_at_once(server: BrokerServer) -> None:
    check_one_build([server])


def test_the_master_survives_garbage_frames_from_a_worker(server: BrokerServer) -> None:
    first = call(server.port, "POST", "/garbage")["after"]
    second = call(server.port, "POST", "/garbage")["after"]
    assert second == first + 1
    assert pid_alive(server.pid)


def test_a_lock_held_by_a_killed_worker_is_free_again(server: BrokerServer) -> None:
    holder = call(server.port, "POST", "/lock")
    assert holder["held"]
    assert call(server.port, "GET", "/lock")["locked"]
    os.kill(holder["pid"], signal.SIGKILL)
    wait_for(lambda: not call(server.port, "GET", "/lock")["locked"], timeout=30,
             message="the lock of the killed worker to be released (its ttl is 300 s)")


def test_a_job_of_a_worker_killed_mid_handling_goes_to_another(server: BrokerServer) -> None:
    call(server.port, "POST", "/jobs?id=j1&hang=true")
    wait_for(lambda: server.kv("job:j1:taken_by"), timeout=30, message="a worker to take j1")
    doomed = server.kv("job:j1:taken_by")
    os.kill(doomed, signal.SIGKILL)
    wait_for(lambda: server.kv("job:j1:done_by"), timeout=30, message="another worker to do j1")
    assert server.kv("job:j1:done_by") != doomed


def test_two_servers_on_one_redis_share_the_broker(redis_url: str, tmp_path: Path) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/3"  # a database of this test's own
    with serving(tmp_path, 2, 2, APP_FRAMEWORK_BROKER_URL=url) as servers:
        check_increments(servers)
        check_news(servers)
        check_cache_writes(servers)
        check_one_build(servers)
