"""A broker that cannot answer raises BrokerUnavailable. A stalled (SIGSTOP) or dead Redis:
requests get a 503 (RPC: -32001) naming the broker within the read timeout, the log says so
in a few lines without tracebacks, and everything works again once Redis is back: calls, the
pub/sub listener, near copies and queue consumers. A worker whose master is gone: the same.

Each Redis test starts a redis-server of its own, since it stalls or kills it."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import multiprocessing
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from framework.broker import BrokerBus, BrokerCache, BrokerKeyValue, BrokerQueue, BrokerUnavailable
from framework.broker.channel import Channel
from framework.broker.pipe import PipeAdapter
from framework.broker.redis_adapter import READ_TIMEOUT, RedisAdapter
from tests.broker.broker_support import eventually
from tests.conftest import _redis_server_binary
from tests.support import ServerProcess, free_port, wait_for

MARGIN = 10.0  # liveness slack on top of a timeout: a hang is the failure, not a slow answer
BURST = 60  # requests sent at once while Redis is down

APP_SOURCE = '''
"""Counts visits in the broker; every process counts bus news and runs queued jobs."""

import os

from framework import App, FrameworkModule, event_dispatcher, events, http, rpc
from framework.broker import BrokerBus, BrokerKeyValue, BrokerQueue


class Background:
    def __init__(self, bus: BrokerBus, kv: BrokerKeyValue, queue: BrokerQueue) -> None:
        self.bus, self.kv, self.queue = bus, kv, queue

    @event_dispatcher.listen(events.on_server_worker_bootstrap)
    async def start(self, event) -> None:
        (await self.bus.subscribe("news")).subscribe(self.count_news)
        await self.queue.consume("jobs", self.run_job)
        await self.kv.increment("workers-ready")

    async def count_news(self, message: dict) -> None:
        await self.kv.increment(f"news:{os.getpid()}")

    async def run_job(self, job: dict) -> None:
        await self.kv.set(f"job:{job['id']}", os.getpid())


class Visits:
    def __init__(self, bus: BrokerBus, kv: BrokerKeyValue, queue: BrokerQueue) -> None:
        self.bus, self.kv, self.queue = bus, kv, queue

    @http.get("/visits")
    async def visit(self) -> dict:
        return {"visits": await self.kv.increment("visits")}

    @http.get("/kv")
    async def read(self, key: str) -> dict:
        return {"value": await self.kv.get(key)}

    @http.post("/news")
    async def publish(self) -> dict:
        await self.bus.publish("news", {"at": os.getpid()})
        return {}

    @http.post("/jobs")
    async def produce(self, id: str) -> dict:
        await self.queue.produce("jobs", {"id": id})
        return {}


@rpc.controller("visits")
class VisitsRpc:
    def __init__(self, kv: BrokerKeyValue) -> None:
        self.kv = kv

    @rpc.action
    async def count(self) -> int:
        return await self.kv.increment("visits")


app = App(imports=[FrameworkModule(graceful_shutdown_timeout=5)],
          controllers=[Visits, VisitsRpc], listeners=[Background], name="outage-test")
app.load_config_from_env()
'''


class OwnRedis:
    """A redis-server this test started (and only this one): stalled, resumed, killed, restarted."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [_redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False
        try:
            wait_for(answers, timeout=10, message="redis-server to answer PING")
        finally:
            client.close()

    def stall(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    try:
        yield server
    finally:
        server.kill()


def request(port: int, method: str, path: str, body: bytes | None = None) -> dict[str, Any]:
    """One request on a fresh connection: status, JSON body and seconds taken."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Connection": "close", "Content-Type": "application/json"}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return {"status": response.status, "body": json.loads(response.read() or b"null"),
                "seconds": time.monotonic() - started}
    finally:
        connection.close()


def rpc_call(port: int) -> dict[str, Any]:
    payload = json.dumps({"jsonrpc": "2.0", "method": "visits.count", "id": 1}).encode()
    return request(port, "POST", "/rpc", payload)


def burst(port: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """BURST GET /visits and a few RPC calls at once: (HTTP answers, RPC answers)."""
    with ThreadPoolExecutor(max_workers=BURST + 4) as pool:
        gets = [pool.submit(request, port, "GET", "/visits") for _ in range(BURST)]
        calls = [pool.submit(rpc_call, port) for _ in range(4)]
        return [get.result() for get in gets], [call.result() for call in calls]


def check_unavailable(gets: list[dict[str, Any]], calls: list[dict[str, Any]], address: str,
                      within: float) -> None:
    """Every answer is the broker's 503 / -32001, naming it, in time."""
    for answer in gets:
        assert answer["status"] == 503, answer
        body = answer["body"]
        assert body["error"] == "Service Unavailable"
        assert body["service"] == "broker" and body["address"] == address, body
        assert address in body["detail"], body
        assert answer["seconds"] < within, answer
    for answer in calls:
        error = answer["body"]["error"]
        assert error["code"] == -32001, answer
        assert address in error["message"], error
        assert error["data"] == {"service": "broker", "address": address}, error
        assert answer["seconds"] < within, answer


@contextlib.contextmanager
def serving(tmp_path: Path, broker_url: str) -> Iterator[ServerProcess]:
    """The app with two workers on ``broker_url``, both booted; stopped and reaped after."""
    (tmp_path / "outage_app.py").write_text(APP_SOURCE)
    with ServerProcess("outage_app:app", cwd=tmp_path, env={
            "APP_FRAMEWORK_WORKERS": "2", "APP_FRAMEWORK_BROKER_URL": broker_url,
            "APP_FRAMEWORK_ACCESS_LOG": "false"}) as server:
        server.wait_serving()
        wait_for(lambda: request(server.port, "GET", "/kv?key=workers-ready")["body"] == {
            "value": 2}, timeout=30, message="both workers to subscribe and consume")
        yield server


def log_since(server: ServerProcess, offset: int) -> str:
    return server.output()[offset:]


def check_quiet(log: str) -> None:
    """A few lines for the whole burst, never a traceback."""
    assert "Traceback" not in log, log
    lines = [line for line in log.splitlines() if line.strip()]
    assert len(lines) <= 12, f"{len(lines)} log lines for {BURST} failed requests:\n{log}"


def test_a_stalled_redis_is_a_503_naming_it_then_serves_again(own_redis: OwnRedis,
                                                               tmp_path: Path) -> None:
    with serving(tmp_path, own_redis.url) as server:
        offset = len(server.output())
        own_redis.stall()
        try:
            gets, calls = burst(server.port)
        finally:
            own_redis.resume()
        check_unavailable(gets, calls, own_redis.url, within=READ_TIMEOUT + MARGIN)
        wait_for(lambda: request(server.port, "GET", "/visits")["status"] == 200, timeout=30,
                 message="visits to be counted again after SIGCONT")
        assert rpc_call(server.port)["body"]["result"] > 1
        check_quiet(log_since(server, offset))


def test_a_dead_redis_is_a_503_and_a_restarted_one_serves_again(own_redis: OwnRedis,
                                                                tmp_path: Path) -> None:
    with serving(tmp_path, own_redis.url) as server:
        offset = len(server.output())
        own_redis.kill()
        gets, calls = burst(server.port)
        check_unavailable(gets, calls, own_redis.url, within=MARGIN)
        check_quiet(log_since(server, offset))

        own_redis.start()
        wait_for(lambda: request(server.port, "GET", "/visits")["status"] == 200, timeout=30,
                 message="visits to be counted again once Redis is back")
        workers = server.remember_children()

        def news_reached_every_worker() -> bool:
            request(server.port, "POST", "/news")
            return all(request(server.port, "GET", f"/kv?key=news:{pid}")["body"]["value"]
                       for pid in workers)
        wait_for(news_reached_every_worker, timeout=30, interval=0.2,
                 message="both workers' bus subscriptions to work again")
        request(server.port, "POST", "/jobs?id=after-restart")
        wait_for(lambda: request(server.port, "GET", "/kv?key=job:after-restart")["body"]["value"]
                 in workers, timeout=30, message="a queue consumer to take a job again")


def test_timeouts_from_the_url_and_recovery_in_one_process(
        own_redis: OwnRedis, caplog: pytest.LogCaptureFixture) -> None:
    """``socket_timeout=`` on broker_url is the read timeout; a restarted Redis is taken up
    by the listener (near copies stay correct) and by queue consumers."""
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    fast = f"{own_redis.url}?socket_timeout=0.5&socket_connect_timeout=0.5"

    async def main() -> None:
        one, two = RedisAdapter(fast, namespace), RedisAdapter(fast, namespace)
        try:
            cache_one, cache_two = BrokerCache(one), BrokerCache(two)
            await cache_one.set("config", 1)
            assert await cache_two.get("config") == 1  # two keeps a near copy
            jobs: list[Any] = []
            await BrokerQueue(two).consume("jobs", jobs.append)
            news: list[Any] = []
            (await BrokerBus(two).subscribe("news")).subscribe(news.append)

            own_redis.stall()
            try:
                started = time.monotonic()
                with pytest.raises(BrokerUnavailable, match=own_redis.url):
                    await BrokerKeyValue(one).get("anything")
                assert time.monotonic() - started < READ_TIMEOUT  # 0.5 s, not the default
            finally:
                own_redis.resume()

            own_redis.kill()
            with pytest.raises(BrokerUnavailable):
                await cache_one.set("config", 2)
            own_redis.start()  # empty: what the old one held is gone

            async def written_and_seen() -> bool:
                try:
                    await cache_one.set("config", 3)
                except BrokerUnavailable:
                    return False
                return await cache_two.get("config") == 3
            await eventually(written_and_seen, message="two to see one's write after restart")

            await BrokerQueue(one).produce("jobs", "back")

            async def news_and_job_arrived() -> bool:
                await BrokerBus(one).publish("news", "back")
                await asyncio.sleep(0.05)  # poll interval: one message per poll, not a flood
                return "back" in news and "back" in jobs
            await eventually(news_and_job_arrived, message="bus and queue after the restart")
        finally:
            await one.close()
            await two.close()

    with caplog.at_level(logging.INFO, logger="framework.broker"):
        asyncio.run(main())
    records = [record for record in caplog.records if record.name == "framework.broker"]
    assert records, "the outage was not logged"
    assert not [record for record in records if record.exc_info], "a traceback was logged"
    assert len(records) <= 12, [record.getMessage() for record in records]


def test_calls_of_a_worker_whose_master_is_gone_raise_broker_unavailable() -> None:
    async def main() -> None:
        worker_end, master_end = multiprocessing.Pipe(duplex=True)
        channel = await Channel.open(worker_end, "master")
        adapter = PipeAdapter(channel)

        async def read() -> None:  # the worker's reader loop
            while (message := await channel.receive()) is not None:
                adapter.handle(message)
            await adapter.close()
        reader = asyncio.get_running_loop().create_task(read())
        waiting = asyncio.get_running_loop().create_task(BrokerKeyValue(adapter).get("k"))
        await asyncio.get_running_loop().run_in_executor(None, master_end.poll, 10)
        master_end.close()  # the master dies with the call unanswered
        with pytest.raises(BrokerUnavailable, match="the broker at the master is unavailable"):
            await asyncio.wait_for(waiting, 10)
        with pytest.raises(BrokerUnavailable, match="the broker at the master is unavailable"):
            await BrokerKeyValue(adapter).increment("k")
        await reader
        await channel.close()
    asyncio.run(main())
