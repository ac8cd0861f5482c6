"""Rolling restarts and recycling lose no request on keep-alive connections.

In one process: a draining server answers what arrives on an open connection with
``Connection: close``, then closes it. With real workers: four clients each keep one
connection open and send GETs and POSTs on it, one after another, with no retry; every
reset, early close or short read counts as a failure.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from functools import partial
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from typing import Any

from framework import App, FrameworkConfig, FrameworkModule, http
from framework.server.serving import HttpServer
from framework.server.sockets import bind_socket
from tests.http.test_http_serving import refused
from tests.server.workers_support import Load
from tests.support import ServerProcess, pid_alive, wait_for

APP_SOURCE = '''
import dataclasses
import os

from framework import App, FrameworkModule, http


@dataclasses.dataclass
class Item:
    n: int


class EchoController:
    @http.get("/hello")
    async def hello(self) -> dict:
        return {"pid": os.getpid()}

    @http.post("/echo")
    async def echo(self, body: http.Body[Item]) -> dict:
        return {"pid": os.getpid(), "n": body.n}


app = App(imports=[FrameworkModule(workers=2, access_log=False, graceful_shutdown_timeout=10)],
          controllers=[EchoController], name="keepalive-test")
app.load_config_from_env()
'''


class PingController:
    @http.get("/ping")
    async def ping(self) -> dict[str, bool]:
        return {"pong": True}


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One HTTP/1.1 response with a Content-Length: (lower-cased head, body)."""
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
    return head, await reader.readexactly(length)


async def stopped_accepting(url: str) -> None:
    while not await refused(url):
        await asyncio.sleep(0.005)


async def test_a_draining_server_answers_on_an_open_connection_then_closes_it() -> None:
    app = App(imports=[FrameworkModule(access_log=False, keepalive_timeout=30)],
              controllers=[PingController])
    server = HttpServer(app, app.get(FrameworkConfig))
    sock = bind_socket("127.0.0.1", 0)
    await server.start(sock)
    host, port = sock.getsockname()[:2]
    reader, writer = await asyncio.open_connection(host, port)
    request = b"GET /ping HTTP/1.1\r\nHost: fw\r\n\r\n"
    try:
        writer.write(request)
        head, _ = await read_response(reader)
        assert b"connection: close" not in head  # kept alive while serving
        draining = asyncio.ensure_future(server.drain(60))  # a grace of 30 s
        await asyncio.wait_for(stopped_accepting(f"http://{host}:{port}"), 10)
        writer.write(request)  # the same connection, idle when the drain began
        head, body = await read_response(reader)
        assert head.startswith(b"http/1.1 200") and b"connection: close" in head
        assert json.loads(body) == {"pong": True}
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed after the answer
        await asyncio.wait_for(draining, 10)  # over once no connection is left
    finally:
        writer.close()


class KeepAliveLoad(Load):
    """Load's clients, but each reuses one connection until the server closes it, and every
    third request is a POST; no retries."""

    def __init__(self, port: int, clients: int = 4) -> None:
        super().__init__(port, clients)
        self.connections = 0

    def _run(self) -> None:
        connection = HTTPConnection("127.0.0.1", self.port, timeout=10)
        sent = 0
        while not self._stopping.is_set():
            sent += 1
            if connection.sock is None:
                with self._lock:
                    self.connections += 1
            try:
                body = self._exchange(connection, sent)
            except (OSError, HTTPException, ValueError) as error:
                connection.close()
                with self._lock:
                    self.failures.append(f"{threading.current_thread().name}, "
                                         f"request {sent}: {error!r}")
            else:
                with self._lock:
                    self.ok += 1
                    self.pids.append(body["pid"])
        connection.close()

    @staticmethod
    def _exchange(connection: HTTPConnection, sent: int) -> dict[str, Any]:
        """A GET or (every third request) a POST; its JSON answer, checked."""
        if sent % 3:
            connection.request("GET", "/hello")
        else:
            connection.request("POST", "/echo", body=json.dumps({"n": sent}),
                               headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        body: dict[str, Any] = json.loads(response.read())
        if response.status != 200 or (sent % 3 == 0 and body.get("n") != sent):
            raise ValueError(f"status {response.status}: {body!r}")
        return body

    def served_more_than(self, count: int) -> bool:
        with self._lock:
            return self.ok > count


def serve(tmp_path: Path, **config: Any) -> ServerProcess:
    (tmp_path / "keepalive_app.py").write_text(APP_SOURCE)
    env = {f"APP_FRAMEWORK_{name.upper()}": str(value) for name, value in config.items()}
    return ServerProcess("keepalive_app:app", cwd=tmp_path, env=env)


def live_workers(server: ServerProcess) -> set[int]:
    return {pid for pid in server.remember_children() if pid_alive(pid)}


def replaced(server: ServerProcess, old: set[int]) -> set[int] | None:
    """The two workers once none of ``old`` is left (a worker stops only once its
    successor serves, so both new ones serve by then)."""
    live = live_workers(server)
    return live if len(live) == 2 and not live & old else None


def assert_kept_alive(load: KeepAliveLoad) -> None:
    """Connections really were reused: far fewer connections than requests."""
    assert load.connections * 3 < load.ok, (load.connections, load.ok)


def test_three_rolling_restarts_under_keep_alive_load_fail_no_request(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        server.wait_serving()
        workers = wait_for(lambda: replaced(server, set()), 15, message="two workers")
        load = KeepAliveLoad(server.port)
        with load:
            wait_for(lambda: load.served_more_than(200), 20, message="the load to run")
            for restart in range(3):
                server.signal(signal.SIGHUP)
                workers = wait_for(partial(replaced, server, workers), 30,
                                   message=f"rolling restart {restart + 1}")
                wait_for(partial(load.served_more_than, load.ok + 200), 20,
                         message="the new workers to serve the load")
        assert load.failures == [], f"{len(load.failures)} of {load.ok} failed: " \
                                    f"{load.failures[:5]}"
        assert_kept_alive(load)
        assert workers & set(load.pids)  # the last workers served the load too


def test_recycling_by_max_requests_under_keep_alive_load_fails_no_request(
        tmp_path: Path) -> None:
    with serve(tmp_path, max_requests=300, max_requests_jitter=50) as server:
        server.wait_serving()
        first = wait_for(lambda: replaced(server, set()), 15, message="two workers")
        seen = set(first)

        def recycled(count: int) -> bool:
            seen.update(live_workers(server))
            return len(seen) >= len(first) + count

        load = KeepAliveLoad(server.port)
        with load:
            wait_for(lambda: recycled(6), 45, message="six workers recycled")
        log = server.output()
        assert load.failures == [], f"{len(load.failures)} of {load.ok} failed: " \
                                    f"{load.failures[:5]}"
        assert_kept_alive(load)
        assert log.count("asks to be replaced: max_requests") >= 6
