"""Connection limits against a real `fw server:start` on loopback: idle, silent and trickling
connections closed by keepalive_timeout / header_read_timeout; fresh requests served when
descriptors run out; malformed HTTP answered in JSON without tracebacks; an early 413 for
``Expect: 100-continue``; a Server header without versions."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support import ServerProcess, wait_for

APP = '''
import asyncio

from framework import App, FrameworkModule, Module, http, rpc


class LimitsController:
    @http.get("/hello")
    async def hello(self) -> dict:
        return {"hello": "world"}

    @http.get("/slow")
    async def slow(self, seconds: float) -> dict:
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    @http.post("/echo")
    async def echo(self, body: http.Body[dict]) -> dict:
        return body


@rpc.controller("limits")
class LimitsRpc:
    @rpc.action
    async def ping(self) -> str:
        return "pong"


class LimitsModule(Module):
    name = "limits"
    controllers = [LimitsController, LimitsRpc]


app = App(imports=[FrameworkModule(), LimitsModule()])
'''

HEAD = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
FD_LIMIT = 256


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator:
    """Starts the app with APP_FRAMEWORK_* settings; every server started is stopped."""
    (tmp_path / "limits_app.py").write_text(APP)
    servers: list[ServerProcess] = []

    def start(**settings: object) -> ServerProcess:
        env = {f"APP_FRAMEWORK_{name.upper()}": str(value) for name, value in settings.items()}
        server = ServerProcess("limits_app:app", cwd=tmp_path, env=env)
        servers.append(server)
        server.wait_serving()
        return server

    yield start
    for server in servers:
        server.stop()


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setblocking(False)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server closed ``sock`` (EOF or reset); reads and drops what it sent."""
    try:
        while data := sock.recv(65536):
            del data
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def exchange(port: int, raw: bytes) -> bytes:
    """Send ``raw`` on a fresh connection; everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def split_response(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip()
               for name, _, value in (line.partition(":") for line in lines)}
    return status_line, headers, body


def test_idle_silent_and_trickling_connections_are_closed_by_the_timeouts(start_server) -> None:
    server = start_server(keepalive_timeout=1, header_read_timeout=2, access_log="false")
    idle, silent, trickling = [], [], []
    for _ in range(30):
        sock = connect(server.port)
        sock.sendall(HEAD)  # one keep-alive request, answered, then nothing
        idle.append(sock)
        silent.append(connect(server.port))
        sock = connect(server.port)
        sock.sendall(b"GET /hello HTTP/1.1\r\n")
        trickling.append(sock)
    started = time.monotonic()
    still_open = set(idle + silent + trickling)

    def all_closed() -> bool:
        for sock in trickling:
            if sock in still_open:
                try:
                    sock.sendall(b"X-Trickle: 1\r\n")  # a header line a second at most
                except OSError:
                    pass
        still_open.difference_update({sock for sock in still_open if closed_by_server(sock)})
        return not still_open

    try:
        wait_for(all_closed, timeout=20, interval=1.0, message="the server to close all 90")
        assert time.monotonic() - started < 20
    finally:
        for sock in idle + silent + trickling:
            sock.close()


def test_header_read_timeout_closes_a_trickling_client_even_with_a_long_keepalive(
        start_server) -> None:
    server = start_server(keepalive_timeout=300, header_read_timeout=2, access_log="false")
    trickler, silent = connect(server.port), connect(server.port)
    trickler.sendall(b"GET /hello HTTP/1.1\r\n")
    started = time.monotonic()

    def trickler_closed() -> bool:
        try:
            trickler.sendall(b"X-Trickle: 1\r\n")
        except OSError:
            return True
        return closed_by_server(trickler)

    try:
        wait_for(trickler_closed, timeout=30, interval=0.5, message="the trickler's close")
        wait_for(lambda: closed_by_server(silent), timeout=10, message="the silent one's close")
        assert time.monotonic() - started < 30  # not keepalive_timeout's 300 s
    finally:
        trickler.close()
        silent.close()


def test_busy_requests_and_websockets_outlive_the_timeouts(start_server) -> None:
    server = start_server(keepalive_timeout=1, header_read_timeout=1, access_log="false")
    silent = connect(server.port)

    async def talk() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{server.url}/rpc") as ws:
                wait_for(lambda: closed_by_server(silent), timeout=10,
                         message="the silent connection's close")
                # a request running longer than both timeouts is answered
                async with session.get(f"{server.url}/slow", params={"seconds": "2.5"}) as r:
                    assert r.status == 200
                await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "limits.ping"})
                assert (await ws.receive_json(timeout=10))["result"] == "pong"

    try:
        asyncio.run(talk())
    finally:
        silent.close()


def test_keepalive_timeout_0_turns_keep_alive_off(start_server) -> None:
    server = start_server(keepalive_timeout=0, access_log="false")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(HEAD)  # an HTTP/1.1 request: keep-alive unless the server says otherwise
        answer = b"".join(iter(lambda: sock.recv(65536), b""))  # ends: the server closed it
    status_line, headers, body = split_response(answer)
    assert (status_line, headers["connection"]) == ("HTTP/1.1 200 OK", "close")
    assert json.loads(body) == {"hello": "world"}


def test_fresh_requests_are_served_when_idle_sockets_exhaust_the_descriptors(
        start_server) -> None:
    # long timeouts: only making room when descriptors run out can serve the fresh requests
    server = start_server(keepalive_timeout=120, header_read_timeout=120, access_log="false")
    resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))
    log_lines_before = len(server.output().splitlines())
    hogs = []
    try:
        for _ in range(400):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", server.port))  # connected or queued: never sends
            hogs.append(sock)

        def descriptors_ran_out() -> bool:
            return (len(os.listdir(f"/proc/{server.pid}/fd")) >= FD_LIMIT - 4
                    or any(closed_by_server(sock) for sock in hogs))  # closed to make room
        wait_for(descriptors_ran_out, timeout=30, message="the server to run out of descriptors")
        for attempt in range(5):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            try:
                connection.request("GET", "/hello")
                response = connection.getresponse()
                assert (response.status, json.loads(response.read())) == (
                    200, {"hello": "world"}), attempt
            finally:
                connection.close()
    finally:
        for sock in hogs:
            sock.close()
    log = server.output().splitlines()[log_lines_before:]
    assert "Traceback" not in "\n".join(log)
    assert len(log) <= 10, log


MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET / FOO/1.1\r\n\r\n",
    b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
    b"GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
    b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\x00y\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    b"POST /echo HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip, chunked, x\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n",
    b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nX-Long: " + b"b" * 10000 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % n for n in range(200)) + b"\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)) + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\n Folded: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    b"GET http://[::1 HTTP/1.1\r\n\r\n",
    b"GET /%zz%00<script> HTTP/1.1\r\nHost\r\n\r\n",
    b"CONNECT nohostport HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\nHost: x\n\rX: y\r\n\r\n",
    b"\xff\xfe\xfd / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1 extra\r\n\r\n",
    b"GET  / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
]


def test_malformed_requests_get_a_json_400_and_no_traceback(start_server) -> None:
    server = start_server(access_log="false")
    log_lines_before = len(server.output().splitlines())
    answers = [exchange(server.port, raw) for raw in MALFORMED]
    for raw, answer in zip(MALFORMED, answers, strict=True):
        status_line, headers, body = split_response(answer)
        assert status_line.split()[1] == "400", (raw, answer)
        assert headers["content-type"].startswith("application/json"), (raw, answer)
        assert json.loads(body)["status"] == 400, (raw, answer)
        assert b"GARBAGE" not in body and b"script" not in body
    log = server.output().splitlines()[log_lines_before:]
    assert "Traceback" not in "\n".join(log)
    assert len(log) <= 3, log


def test_expect_100_continue_over_the_body_limit_is_refused_at_once(start_server) -> None:
    server = start_server(max_body_size=1000, access_log="false")
    answer = exchange(server.port, b"POST /echo HTTP/1.1\r\nHost: x\r\n"
                                   b"Content-Type: application/json\r\nContent-Length: 5000\r\n"
                                   b"Expect: 100-continue\r\n\r\n")
    status_line, headers, body = split_response(answer)
    assert status_line.split()[1] == "413", answer
    assert b"100 Continue" not in answer
    assert json.loads(body)["status"] == 413
    # within the limit, the client is told to go on, and its body is served
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 8\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b'{"a": 1}')
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    assert split_response(answer)[2] == b'{"a":1}'


def test_the_server_header_names_no_versions(start_server) -> None:
    server = start_server(max_body_size=10, access_log="false")
    answers = [
        exchange(server.port, b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        exchange(server.port, b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        exchange(server.port, b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                              b"Content-Type: application/json\r\nContent-Length: 50\r\n\r\n"
                              + b" " * 50),
        exchange(server.port, b"NOT HTTP AT ALL\r\n\r\n"),
    ]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /rpc HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        handshake = b""
        while b"\r\n\r\n" not in handshake:
            handshake += sock.recv(65536)
    answers.append(handshake)
    for answer in answers:
        assert split_response(answer)[1]["server"] == "fw", answer
