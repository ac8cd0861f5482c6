"""HttpServer, the serving unit every process uses: start, stop accepting, drain, counters."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from framework import App, FrameworkConfig, FrameworkModule, Module, http
from framework.server.serving import HttpServer
from framework.server.sockets import BindError, bind_socket


class Gate:
    """Lets the test see a slow request start and decide when it ends."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = False


class SlowController:
    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    @http.get("/fast")
    async def fast(self) -> dict:
        return {"fast": True}

    @http.get("/slow")
    async def slow(self) -> dict:
        self.gate.entered.set()
        try:
            await self.gate.release.wait()
        except asyncio.CancelledError:
            self.gate.cancelled = True
            raise
        return {"slow": True}


class SlowModule(Module):
    name = "slow"
    providers = [Gate]
    controllers = [SlowController]


@pytest.fixture
async def serving():
    app = App(imports=[FrameworkModule(access_log=False), SlowModule()])
    server = HttpServer(app, app.get(FrameworkConfig))
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    await server.start(sock)
    async with aiohttp.ClientSession() as session:
        yield server, app.get(Gate), session, f"http://127.0.0.1:{port}"
    await server.drain(0)


async def refused(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        _, writer = await asyncio.open_connection(host, int(port))
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


async def test_counts_requests_served_and_in_flight(serving) -> None:
    server, gate, session, url = serving
    for _ in range(3):
        async with session.get(f"{url}/fast") as response:
            assert response.status == 200
    assert (server.requests_served, server.in_flight) == (3, 0)
    slow = asyncio.ensure_future(session.get(f"{url}/slow"))
    await asyncio.wait_for(gate.entered.wait(), 10)
    assert server.in_flight == 1
    gate.release.set()
    assert (await slow).status == 200
    assert (server.requests_served, server.in_flight) == (4, 0)


async def test_stop_accepting_then_drain_finishes_the_request_in_flight(serving) -> None:
    server, gate, session, url = serving
    slow = asyncio.ensure_future(session.get(f"{url}/slow"))
    await asyncio.wait_for(gate.entered.wait(), 10)
    await server.stop_accepting()
    assert await refused(url)
    draining = asyncio.ensure_future(server.drain(30))
    gate.release.set()
    response = await slow
    assert (response.status, await response.json()) == (200, {"slow": True})
    await asyncio.wait_for(draining, 10)


async def test_drain_cancels_what_outlives_the_timeout(serving) -> None:
    server, gate, session, url = serving
    slow = asyncio.ensure_future(session.get(f"{url}/slow"))
    await asyncio.wait_for(gate.entered.wait(), 10)
    await server.drain(0.2)
    assert gate.cancelled
    with pytest.raises(aiohttp.ClientError):
        await slow


async def test_drain_closes_idle_keep_alive_connections(serving) -> None:
    server, gate, session, url = serving
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    await asyncio.wait_for(server.drain(60), 10)  # closes it when the grace ends (5 s)
    await reader.read(1 << 16)  # the response body, then end of file
    assert reader.at_eof()
    writer.close()


def test_bind_socket_reuse_port_and_port_in_use() -> None:
    first = bind_socket("127.0.0.1", 0, reuse_port=True)
    port = first.getsockname()[1]
    second = bind_socket("127.0.0.1", port, reuse_port=True)
    try:
        with pytest.raises(BindError, match=f"cannot listen on 127.0.0.1:{port}: address "
                                            "already in use"):
            bind_socket("127.0.0.1", port)
    finally:
        first.close()
        second.close()
    with pytest.raises(BindError, match="unknown host"):
        bind_socket("no-such-host.invalid", 80)


def test_bound_sockets_listen_and_do_not_block() -> None:
    sock = bind_socket("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        assert sock.getblocking() is False
    finally:
        sock.close()
