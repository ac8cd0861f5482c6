"""Broker limits in a real ``fw server:start`` with two workers talking to the master over
pipes: big values, big batches, big answers and many increments finish or raise within
seconds, and the server keeps answering; a stopped subscriber does not make the master
buffer without bound."""

from __future__ import annotations

import http.client
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.support import ServerProcess, children_of, pid_alive, wait_for

LIVENESS = 60.0  # a hang is the failure, not a slow answer
MB = 1024 * 1024
APP_SOURCE = '''
"""Routes that push the broker to its limits; each answers what happened."""

import asyncio

from framework import App, FrameworkModule, ProcessInfo, event_dispatcher, events, http
from framework.broker import BrokerBus, BrokerKeyValue

MB = 1024 * 1024
RECEIVED = []


async def outcome(call) -> dict:
    try:
        return {"ok": await call}
    except Exception as error:
        return {"error": type(error).__name__, "message": str(error)}


class Firehose:
    """Every worker subscribes to the firehose channel."""

    def __init__(self, bus: BrokerBus, kv: BrokerKeyValue, process: ProcessInfo) -> None:
        self.bus, self.kv, self.process = bus, kv, process

    @event_dispatcher.listen(events.on_server_worker_bootstrap)
    async def subscribe(self, event) -> None:
        (await self.bus.subscribe("firehose")).subscribe(lambda m: RECEIVED.append(len(m)))
        await self.kv.increment("subscribed")


class LimitsController:
    def __init__(self, kv: BrokerKeyValue, bus: BrokerBus) -> None:
        self.kv, self.bus = kv, bus

    @http.get("/ping")
    async def ping(self) -> dict:
        return {"subscribed": await self.kv.get("subscribed")}

    @http.post("/set")
    async def set_value(self, key: str, mb: float) -> dict:
        return await outcome(self.kv.set(key, "x" * int(mb * MB)))

    @http.post("/sets")
    async def set_values(self, count: int, mb: float) -> dict:
        value = '"quoted" ' * int(mb * MB / 9)
        sets = [self.kv.set(f"many:{n}", value) for n in range(count)]
        return await outcome(asyncio.gather(*sets))

    @http.post("/gets")
    async def get_values(self, key: str, count: int) -> dict:
        async def lengths():
            return [len(v) for v in await asyncio.gather(*(self.kv.get(key)
                                                           for _ in range(count)))]
        return await outcome(lengths())

    @http.post("/increments")
    async def increments(self, count: int) -> dict:
        key = "increments:" + "k" * 60
        async def highest():
            return max(await asyncio.gather(*(self.kv.increment(key) for _ in range(count))))
        return await outcome(highest())

    @http.post("/flood")
    async def flood(self, mb: int) -> dict:
        message = "x" * MB
        for _ in range(mb):
            await self.bus.publish("firehose", message)
        return {"ok": mb}


app = App(imports=[FrameworkModule(worker_timeout=120, graceful_shutdown_timeout=5)],
          controllers=[LimitsController], listeners=[Firehose], name="broker-limits")
app.load_config_from_env()
'''


def call(port: int, method: str, path: str) -> dict[str, Any]:
    """One request on a fresh connection; an answer later than LIVENESS fails the test."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=LIVENESS)
    try:
        connection.request(method, path, headers={"Connection": "close"})
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, f"{method} {path}: {response.status} {body!r}"
        answer: dict[str, Any] = json.loads(body)
        return answer
    finally:
        connection.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Two workers; values of up to 10 MiB (so a 9 MB value can be stored and read)."""
    directory = tmp_path_factory.mktemp("broker-limits")
    (directory / "limits_app.py").write_text(APP_SOURCE)
    env = {"APP_FRAMEWORK_WORKERS": "2", "APP_FRAMEWORK_BROKER_MAX_VALUE_MB": "10"}
    with ServerProcess("limits_app:app", cwd=directory, env=env) as running:
        running.wait_serving()
        wait_for(lambda: call(running.port, "GET", "/ping")["subscribed"] == 2, timeout=30,
                 message="both workers to subscribe")
        yield running


def test_a_value_over_the_limit_raises_value_error_at_once(server: ServerProcess) -> None:
    answer = call(server.port, "POST", "/set?key=big&mb=20")
    assert answer["error"] == "ValueError"
    assert "broker_max_value_mb" in answer["message"]
    assert call(server.port, "GET", "/ping")["subscribed"] == 2


def test_twenty_one_megabyte_sets_in_one_loop_turn_all_finish(server: ServerProcess) -> None:
    assert call(server.port, "POST", "/sets?count=20&mb=1") == {"ok": [None] * 20}
    assert call(server.port, "GET", "/ping")["subscribed"] == 2


def test_two_concurrent_gets_of_a_nine_megabyte_value_both_answer(server: ServerProcess) -> None:
    assert call(server.port, "POST", "/set?key=nine&mb=9") == {"ok": None}
    assert call(server.port, "POST", "/gets?key=nine&count=2") == {"ok": [9 * MB] * 2}
    assert call(server.port, "GET", "/ping")["subscribed"] == 2


def test_two_hundred_thousand_concurrent_increments_all_return(server: ServerProcess) -> None:
    answer = call(server.port, "POST", "/increments?count=200000")
    assert answer["ok"] >= 200_000  # other tests may not touch this key: exactly 200,000
    assert call(server.port, "GET", "/ping")["subscribed"] == 2


def test_a_stopped_subscriber_does_not_make_the_master_buffer_without_bound(
        tmp_path: Path) -> None:
    (tmp_path / "limits_app.py").write_text(APP_SOURCE)
    with ServerProcess("limits_app:app", cwd=tmp_path,
                       env={"APP_FRAMEWORK_WORKERS": "2"}) as running:
        running.wait_serving()
        wait_for(lambda: call(running.port, "GET", "/ping")["subscribed"] == 2, timeout=30,
                 message="both workers to subscribe")
        stopped = running.remember_children()[0]
        master = psutil.Process(running.pid)
        before = master.memory_info().rss
        os.kill(stopped, signal.SIGSTOP)
        try:
            assert call(running.port, "POST", "/flood?mb=200") == {"ok": 200}
            grown = master.memory_info().rss - before
        finally:
            os.kill(stopped, signal.SIGCONT)
        # Unbounded, the master would hold all 200 MB for the stopped worker. Bounded, it holds
        # one frame limit's backlog (17 MiB) and what its allocator keeps of freed frames.
        assert grown < 90 * MB, f"the master grew by {grown / MB:.0f} MB for 200 MB published"
        assert pid_alive(stopped) and stopped in children_of(running.pid)
        assert call(running.port, "GET", "/ping")["subscribed"] == 2
