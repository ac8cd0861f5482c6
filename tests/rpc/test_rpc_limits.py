"""RPC limits on real servers: a batch over rpc_max_batch is refused whole and at once, a batch
runs at most rpc_max_in_flight calls at a time and lets other requests in, and a WebSocket is
read only while it has room, so a client that never reads cannot grow the worker."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from framework import FrameworkConfig
from tests.support import ServerProcess, pid_alive, wait_for

APP_SOURCE = '''
"""Actions that record, block, hold and echo, and routes that report what they saw."""

import asyncio
import os
import time
from pathlib import Path

from framework import App, FrameworkModule, http, rpc

RECORD = Path(os.environ["FW_TEST_RECORD"])


class Gate:
    """Held calls wait here until the gate opens; counts what ran in this process."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.started = 0
        self.running = 0
        self.most_running = 0
        self.blocked = 0


@rpc.controller("calls")
class CallsRpc:
    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    @rpc.action
    def record(self, n: int) -> int:
        with RECORD.open("a") as out:
            out.write(f"{n}\\n")
        return n

    @rpc.action
    def block(self, ms: int) -> None:
        time.sleep(ms / 1000)  # holds the event loop, as CPU-bound work does
        self.gate.blocked += 1

    @rpc.action
    async def hold(self) -> None:
        gate = self.gate
        gate.started += 1
        gate.running += 1
        gate.most_running = max(gate.most_running, gate.running)
        await gate.opened.wait()
        gate.running -= 1

    @rpc.action
    def echo(self, text: str) -> str:
        return text


class ProbeController:
    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    @http.get("/ping")
    async def ping(self) -> dict:
        return {"pid": os.getpid()}

    @http.get("/gate")
    async def figures(self) -> dict:
        return {"started": self.gate.started, "most_running": self.gate.most_running,
                "blocked": self.gate.blocked}

    @http.post("/gate/open")
    async def open(self) -> None:
        self.gate.opened.set()


app = App(imports=[FrameworkModule()], providers=[Gate],
          controllers=[CallsRpc, ProbeController])
app.load_config_from_env()
'''

DEFAULTS = FrameworkConfig()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """``serve(workers, **config)``: the app served from tmp_path, up; stopped after the test."""
    (tmp_path / "limits_app.py").write_text(APP_SOURCE)
    started: list[ServerProcess] = []

    def start(workers: int = 0, **config: Any) -> ServerProcess:
        env = {f"APP_FRAMEWORK_{name.upper()}": str(value) for name, value in config.items()}
        env["FW_TEST_RECORD"] = str(tmp_path / "record.txt")
        server = ServerProcess("limits_app:app", "--workers", str(workers), cwd=tmp_path,
                               env=env)
        started.append(server)
        server.wait_serving()
        server.record = tmp_path / "record.txt"
        return server
    yield start
    for server in started:
        server.stop()


def request(port: int, method: str, path: str, body: bytes = b"",
            timeout: float = 10.0) -> tuple[int, Any]:
    connection = HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body else {}
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        connection.close()


def recorded(server: ServerProcess) -> list[int]:
    if not server.record.exists():
        return []
    return [int(line) for line in server.record.read_text().split()]


def call(method: str, *params: Any, call_id: int | None = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": list(params)}
    if call_id is not None:
        message["id"] = call_id
    return message


# -- batches ---------------------------------------------------------------------------------

def test_huge_batches_are_refused_at_once_while_both_workers_keep_serving(serve: Any) -> None:
    server = serve(workers=2)
    workers = wait_for(lambda: sorted(server.remember_children()) if len(
        server.remember_children()) == 2 else None, message="two workers")
    # 500k entries in 1 MB: five real calls up front, then entries that are no call at all
    batch = json.dumps([call("calls.record", n, call_id=n) for n in range(5)] + [0] * 499_995,
                       separators=(",", ":")).encode()
    answers: list[tuple[int, Any]] = []

    def post_batch() -> None:
        answers.append(request(server.port, "POST", "/rpc", batch, timeout=60))
    posters = [threading.Thread(target=post_batch) for _ in range(4)]
    for poster in posters:
        poster.start()
    pings = 0
    while any(poster.is_alive() for poster in posters):
        assert request(server.port, "GET", "/ping")[0] == 200
        pings += 1
    for poster in posters:
        poster.join()

    assert pings >= 1
    refusal = {"jsonrpc": "2.0", "id": None, "error": {
        "code": -32600, "message": "Invalid Request",
        "data": f"a batch of 500000 calls is over the limit of {DEFAULTS.rpc_max_batch} "
                "(rpc_max_batch)"}}
    assert answers == [(200, refusal)] * 4
    assert recorded(server) == []
    assert sorted(server.remember_children()) == workers and all(map(pid_alive, workers))
    assert request(server.port, "GET", "/ping")[0] == 200

    # a batch of exactly rpc_max_batch calls runs every call
    full = [call("calls.record", n, call_id=n) for n in range(DEFAULTS.rpc_max_batch)]
    status, answer = request(server.port, "POST", "/rpc", json.dumps(full).encode(), timeout=60)
    assert status == 200 and sorted(entry["result"] for entry in answer) == list(
        range(DEFAULTS.rpc_max_batch))
    assert sorted(recorded(server)) == list(range(DEFAULTS.rpc_max_batch))


def test_a_batch_runs_at_most_rpc_max_in_flight_calls_at_once(serve: Any) -> None:
    server = serve()
    size = 3 * DEFAULTS.rpc_max_in_flight
    batch = json.dumps([call("calls.hold", call_id=n) for n in range(size)]).encode()
    answer: list[tuple[int, Any]] = []
    poster = threading.Thread(target=lambda: answer.append(
        request(server.port, "POST", "/rpc", batch, timeout=60)))
    poster.start()
    try:
        figures = wait_for(lambda: (lambda seen: seen if seen["started"] else None)(
            request(server.port, "GET", "/gate")[1]), message="held calls started")
        assert figures["started"] == DEFAULTS.rpc_max_in_flight
    finally:
        request(server.port, "POST", "/gate/open")
        poster.join(60)
    status, answers = answer[0]
    assert status == 200 and sorted(entry["id"] for entry in answers) == list(range(size))
    assert request(server.port, "GET", "/gate")[1]["most_running"] == DEFAULTS.rpc_max_in_flight


def test_a_long_batch_of_blocking_calls_lets_other_requests_in(serve: Any) -> None:
    server = serve()
    size = 1000
    batch = json.dumps([call("calls.block", 3, call_id=n) for n in range(size)]).encode()
    answer: list[tuple[int, Any]] = []
    poster = threading.Thread(target=lambda: answer.append(
        request(server.port, "POST", "/rpc", batch, timeout=120)))
    poster.start()
    try:
        # a request answered while the batch is half done: the batch did not hold the loop
        wait_for(lambda: 0 < request(server.port, "GET", "/gate", timeout=30)[1]["blocked"] < size,
                 timeout=30, message="an answer in the middle of the batch")
    finally:
        poster.join(120)
    assert answer[0][0] == 200 and len(answer[0][1]) == size


# -- WebSockets ------------------------------------------------------------------------------

async def test_a_websocket_runs_at_most_rpc_max_in_flight_calls_and_reads_on_after(
        serve: Any) -> None:
    server = serve()
    size = 3 * DEFAULTS.rpc_max_in_flight
    async with aiohttp.ClientSession() as session:
        async def figures() -> dict[str, int]:
            async with session.get(f"{server.url}/gate") as response:
                return await response.json()

        async with session.ws_connect(f"ws://127.0.0.1:{server.port}/rpc") as ws:
            for n in range(size):
                await ws.send_str(json.dumps(call("calls.hold", call_id=n)))
            deadline = time.monotonic() + 10
            while (await figures())["started"] < DEFAULTS.rpc_max_in_flight:
                assert time.monotonic() < deadline, "held calls never started"
            assert (await figures())["started"] == DEFAULTS.rpc_max_in_flight
            async with session.post(f"{server.url}/gate/open") as response:
                assert response.status == 204
            answers = [await ws.receive_json(timeout=30) for _ in range(size)]
    assert sorted(answer["id"] for answer in answers) == list(range(size))
    assert (await asyncio.to_thread(request, server.port, "GET", "/gate"))[1][
        "most_running"] == DEFAULTS.rpc_max_in_flight


def open_websocket(port: int) -> socket.socket:
    """A WebSocket on /rpc over a plain socket, so the test controls every byte it reads."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /rpc HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def text_frame(payload: bytes) -> bytes:
    """One masked client text frame; the mask key is zero, so the payload goes as it is."""
    size = len(payload)
    if size < 126:
        header = bytes([0x81, 0x80 | size])
    elif size < 1 << 16:
        header = bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([0x81, 0x80 | 127]) + size.to_bytes(8, "big")
    return header + b"\0\0\0\0" + payload


def send_until_refused(sock: socket.socket, frame: bytes, most: int, deadline: float) -> int:
    """Send ``frame`` again and again, never reading, until ``most`` bytes went out or the
    server stopped reading (the socket stayed unwritable for 3 s); the bytes sent."""
    sock.setblocking(False)
    sent, pending = 0, memoryview(frame)
    while sent < most and time.monotonic() < deadline:
        if not select.select([], [sock], [], 3.0)[1]:
            break
        written = sock.send(pending)
        sent += written
        pending = pending[written:] or memoryview(frame)
    return sent


def test_a_websocket_client_that_never_reads_does_not_grow_the_worker(serve: Any) -> None:
    server = serve()
    worker = psutil.Process(server.pid)
    assert request(server.port, "GET", "/ping")[0] == 200
    before = worker.memory_info().rss
    frame = text_frame(json.dumps(call("calls.echo", "x" * 60_000)).encode())
    sock = open_websocket(server.port)
    try:
        sent = send_until_refused(sock, frame, most=200 << 20, deadline=time.monotonic() + 60)
        grown = worker.memory_info().rss - before
        assert grown < 100 << 20, f"the worker grew by {grown >> 20} MiB ({sent >> 20} MiB sent)"
        assert sent < 100 << 20  # the server stopped reading: TCP pushed back on the client
        assert request(server.port, "GET", "/ping")[0] == 200
    finally:
        sock.close()
    assert request(server.port, "GET", "/ping")[0] == 200
