"""Balanced accepting in one process: the AcceptTable's cells, and the Acceptor that reads them.

A worker accepts while its open connections are within SLACK of the least loaded accepting
worker's; it leaves a connection to a less loaded peer, and accepts anyway when the peer
does not take it, so a stuck peer never stops it accepting. Two servers on one socket (a
dup of it, as two workers' loops each watch their own descriptor) stand in for workers;
real ones: tests/server/test_balance.py.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from framework import App, FrameworkConfig, FrameworkModule, http
from framework.http.transport.balance import SLACK, AcceptTable, Seat
from framework.server.serving import HttpServer
from framework.server.sockets import bind_socket
from tests.support import run_in_fork


def seats(table: AcceptTable, count: int) -> list[Seat]:
    taken = [table.take() for _ in range(count)]
    assert all(seat is not None for seat in taken)
    return [seat for seat in taken if seat is not None]


def test_cells_go_lowest_first_and_a_given_back_one_is_taken_again() -> None:
    table = AcceptTable(cells=3)
    first, second, third = seats(table, 3)
    assert [first.index, second.index, third.index] == [1, 2, 3]
    assert table.take() is None  # every cell held: that worker accepts unbalanced
    second.accepting(7)
    table.give_back(second)
    again = table.take()
    assert again is not None and again.index == 2
    first.accepting(7 + SLACK + 1)
    assert first.may_accept(), "a given-back cell still counted"


def test_a_worker_accepts_within_slack_of_the_least_loaded_accepting_one() -> None:
    me, peer, _booting = seats(AcceptTable(cells=4), 3)
    me.accepting(5)
    assert me.may_accept(), "the others booting, a worker always accepts"
    peer.accepting(0)
    assert not me.may_accept()
    me.publish(SLACK)
    assert me.may_accept()
    me.publish(SLACK + 1)
    assert not me.may_accept()
    peer.publish(4)
    assert me.may_accept()
    me.publish(100)
    peer.leave()  # drains: its count no longer matters ...
    peer.publish(0)  # ... nor do its connections closing
    assert me.may_accept()


def test_forked_workers_share_the_table() -> None:
    table = AcceptTable()
    master_side, worker_side = seats(table, 2)
    master_side.accepting(5)
    assert master_side.may_accept()

    def worker() -> str:
        worker_side.accepting(0)
        return "published"
    assert run_in_fork(worker) == "published"
    assert not master_side.may_accept(), "the forked worker's count is not seen"


class HelloController:
    @http.get("/hello")
    async def hello(self) -> dict[str, bool]:
        return {"hello": True}


async def start(sock: socket.socket, seat: Seat) -> HttpServer:
    app = App(imports=[FrameworkModule(access_log=False, keepalive_timeout=30)],
              controllers=[HelloController])
    server = HttpServer(app, app.get(FrameworkConfig))
    await server.start(sock, seat)
    return server


class Client:
    """Keep-alive connections to ``port``, each answering one GET first."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.writers: list[asyncio.StreamWriter] = []

    async def open(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writers.append(writer)
        writer.write(b"GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        await reader.readexactly(length)

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
        await asyncio.gather(*(writer.wait_closed() for writer in self.writers),
                             return_exceptions=True)


@pytest.fixture
async def listening() -> AsyncIterator[tuple[socket.socket, Client]]:
    sock = bind_socket("127.0.0.1", 0)
    client = Client(sock.getsockname()[1])
    yield sock, client
    await client.close()


async def test_a_connection_goes_to_the_less_loaded_worker(
        listening: tuple[socket.socket, Client]) -> None:
    sock, client = listening
    busy_seat, idle_seat = seats(AcceptTable(), 2)
    busy = await start(sock, busy_seat)
    for _ in range(3):
        await client.open()  # the only worker accepting: all three are its own
    idle = await start(sock.dup(), idle_seat)
    for _ in range(2):
        await asyncio.wait_for(client.open(), 5)
    assert (busy.requests_served, idle.requests_served) == (3, 2)
    await asyncio.gather(busy.drain(0), idle.drain(0))


async def test_a_stuck_peer_never_stops_a_worker_accepting(
        listening: tuple[socket.socket, Client]) -> None:
    sock, client = listening
    stuck, own = seats(AcceptTable(), 2)
    stuck.accepting(0)  # the least loaded, for ever: its loop never takes a connection
    server = await start(sock, own)
    await asyncio.wait_for(asyncio.gather(*(client.open() for _ in range(20))), 10)
    assert server.requests_served == 20
    await server.drain(0)
