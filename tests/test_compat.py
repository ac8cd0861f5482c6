"""framework.compat.aiohttp against real `fw server:start` processes on loopback: on the aiohttp
installed every fast path is taken, and with FW_AIOHTTP_INTERNALS=0 (every public fallback)
a server answers the same bytes, Date aside, and its connection guard works the same."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.http.test_connection_limits import APP as LIMITS_APP
from tests.http.test_connection_limits import closed_by_server, connect, exchange, split_response
from tests.support import ServerProcess, wait_for

# the connection-limits app (/hello, /slow, /echo, /rpc), with routes of every kind of answer
APP = LIMITS_APP + '''
from aiohttp import web

from framework.compat import aiohttp as compat


class CompatController:
    @http.get("/paths")
    async def paths(self) -> dict:
        return compat.FAST_PATHS

    @http.get("/users/{user_id}")
    async def user(self, user_id: int, request: web.Request) -> dict:
        return {"id": user_id, "match": dict(request.match_info),
                "method": request.match_info.route.method, "app": request.app is not None,
                "keep_alive": request.keep_alive}

    @http.delete("/users/{user_id}")
    async def delete(self, user_id: int) -> None:
        return None

    @http.get("/text")
    def text(self) -> str:
        return "plain text"


class CompatModule(Module):
    name = "compat"
    controllers = [CompatController]


app = App(imports=[FrameworkModule(), LimitsModule(), CompatModule()])
'''

INTERNALS, PUBLIC = "internals", "public"  # FW_AIOHTTP_INTERNALS unset, and 0

CLOSE = b"Host: x\r\nConnection: close\r\n"
REQUESTS = [
    b"GET /users/7?x=1 HTTP/1.1\r\n" + CLOSE + b"\r\n",
    b"GET /users/seven HTTP/1.1\r\n" + CLOSE + b"\r\n",
    b"GET /nowhere HTTP/1.1\r\n" + CLOSE + b"\r\n",
    b"PUT /users/7 HTTP/1.1\r\n" + CLOSE + b"Content-Length: 0\r\n\r\n",
    b"DELETE /users/7 HTTP/1.1\r\n" + CLOSE + b"\r\n",
    b"GET /text HTTP/1.1\r\n" + CLOSE + b"\r\n",
    b"POST /echo HTTP/1.1\r\n" + CLOSE + b"Content-Type: application/json\r\n"
    b"Content-Length: 8\r\n\r\n{\"a\": 1}",
    b"POST /echo HTTP/1.1\r\n" + CLOSE + b"Content-Type: application/json\r\n"
    b"Content-Length: 2000\r\n\r\n" + b" " * 2000,
    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
    b"GET /users/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /users/2 HTTP/1.1\r\n" + CLOSE + b"\r\n",
    b"GET /users/3 HTTP/1.0\r\n\r\n",
    b"NOT HTTP AT ALL\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % n for n in range(200)) + b"\r\n",
]
WEBSOCKET = (b"GET /rpc HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Starts the app on the fast paths or on the public fallbacks, with APP_FRAMEWORK_*
    settings; checks which paths it took; every server started is stopped."""
    (tmp_path / "compat_app.py").write_text(APP)
    servers: list[ServerProcess] = []

    def start(mode: str, **settings: object) -> ServerProcess:
        env = {f"APP_FRAMEWORK_{name.upper()}": str(value) for name, value in settings.items()}
        env["FW_AIOHTTP_INTERNALS"] = "1" if mode == INTERNALS else "0"
        server = ServerProcess("compat_app:app", cwd=tmp_path, env=env)
        servers.append(server)
        server.wait_serving()
        paths = json.loads(split_response(exchange(
            server.port, b"GET /paths HTTP/1.1\r\n" + CLOSE + b"\r\n"))[2])
        assert set(paths.values()) == {mode == INTERNALS}, paths
        return server

    yield start
    for server in servers:
        server.stop()


def without_date(answer: bytes) -> bytes:
    return re.sub(rb"\r\nDate: [^\r]*", b"", answer)


def websocket_handshake(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(WEBSOCKET)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
    return answer


@pytest.mark.parametrize("settings", [{}, {"keepalive_timeout": 0}], ids=["keep-alive", "off"])
def test_the_public_fallbacks_answer_the_same_bytes(start_server, settings: dict) -> None:
    fast, public = (start_server(mode, max_body_size=1000, access_log="false", **settings)
                    for mode in (INTERNALS, PUBLIC))
    for raw in REQUESTS:
        answer = without_date(exchange(fast.port, raw))
        assert answer.startswith(b"HTTP/1."), (raw, answer)
        assert without_date(exchange(public.port, raw)) == answer, raw
    handshake = websocket_handshake(fast.port)
    assert handshake.startswith(b"HTTP/1.1 101 ")
    assert without_date(websocket_handshake(public.port)) == without_date(handshake)
    for server in (fast, public):
        assert "Traceback" not in server.output()


@pytest.mark.parametrize("mode", [INTERNALS, PUBLIC])
def test_the_guard_closes_a_connection_idle_after_its_answer_but_not_a_busy_one(
        start_server, mode: str) -> None:
    server = start_server(mode, keepalive_timeout=60, header_read_timeout=1.5,
                          access_log="false")
    idle = connect(server.port)
    try:
        idle.sendall(b"GET /users/1 HTTP/1.1\r\nHost: x\r\n\r\n")  # answered, then kept alive
        wait_for(lambda: closed_by_server(idle), timeout=30,
                 message="the idle connection's close (header_read_timeout, not keep-alive's)")
    finally:
        idle.close()
    answer = exchange(server.port, b"GET /slow?seconds=3 HTTP/1.1\r\n" + CLOSE + b"\r\n")
    assert split_response(answer)[2] == b'{"slept":3.0}'
