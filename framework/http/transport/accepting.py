"""Acceptor: fw's accept loop on a listening socket, the same on asyncio's loop and uvloop.

When descriptors run out (EMFILE and kin), the loops' own accept loops misbehave: asyncio's
logs a traceback per backlog slot and retries every second, uvloop's accepts and drops every
pending connection, legitimate ones included. The Acceptor instead asks for room (idle
connections close), waits until a descriptor frees, and logs one line per few seconds; the
connections already open are served throughout.

With a Seat (workers sharing one listening socket, see balance.py) it accepts only while no
accepting worker holds fewer connections than its own count less SLACK, looking again
before each connection, so a wake-up takes a few connections, not the whole backlog.
Otherwise it leaves the socket's reader for DEFER seconds, or until one of its own
connections closes (short-lived connections would wait on a sleeping acceptor otherwise),
so that a less loaded worker takes the connection. A deferral ends at MAX_DEFER with the
connection still waiting: then it accepts that one anyway, so a peer whose loop is late (a
busy machine) costs a connection's balance, not its latency. After GIVE_UP deferrals in a row
ran out, with no turn of its own between them, the least loaded peer is taken for stuck
(a blocked loop keeps its count low): the worker defers no more for IMPATIENCE seconds.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import select
import socket
from collections.abc import Callable

from framework.http.transport.balance import Seat
from framework.ratelimit import RateLimitedLog

OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
GONE_BEFORE_ACCEPT = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM})
ROOM_WAIT = 1.0      # seconds to wait for a descriptor to free before trying again anyway
ROOM_POLL = 0.05     # seconds between two looks at the number of open connections
ERROR_PAUSE = 1.0    # seconds before accepting again after an unexpected accept error
DEFER = 0.001        # seconds off the socket's reader while a less loaded worker accepts
MAX_DEFER = 0.005    # seconds a pending connection waits for another worker, at most
GIVE_UP = 8          # deferrals in a row that ran out before a peer is taken for stuck
IMPATIENCE = 1.0     # seconds without deferring once it is

logger = logging.getLogger("framework.server")


class Acceptor:
    """Accepts connections on ``sock`` and hands each to ``protocol_factory``'s protocol.

    ``protocol_factory(closed)`` makes one connection's protocol, which calls ``closed()``
    when the connection is lost. ``open_connections()`` counts the connections open now;
    ``make_room()`` closes idle ones and says how many. ``seat``: this worker's cell of
    the AcceptTable, which balanced accepting reads and updates.
    """

    def __init__(self, sock: socket.socket,
                 protocol_factory: Callable[[Callable[[], None]], asyncio.Protocol],
                 open_connections: Callable[[], int], make_room: Callable[[], int],
                 seat: Seat | None = None) -> None:
        self.sock = sock
        self.protocol_factory = protocol_factory
        self.open_connections = open_connections
        self.make_room = make_room
        self.seat = seat
        self.accepted = 0  # connections accepted and not closed yet
        self.log = RateLimitedLog(logger, interval=5.0)
        self._task: asyncio.Task[None] | None = None
        self._connecting: set[asyncio.Task[None]] = set()
        self._pending = select.poll()  # whether a connection waits, without waiting for one
        self._pending.register(sock.fileno(), select.POLLIN)
        self._run_outs = 0           # deferrals in a row that ran out
        self._on_close: asyncio.Future[None] | None = None  # a deferral's, woken by a close
        self._impatient_until = 0.0  # loop time: no deferral before it

    def start(self) -> None:
        self.sock.setblocking(False)
        if self.seat is not None:
            self.seat.accepting(self.accepted)
        self._task = asyncio.get_running_loop().create_task(self._accept_forever(),
                                                            name="accept")

    async def stop(self) -> None:
        """Stop accepting and close the listening socket in this process; the connections
        accepted already are handed to their protocol first (a drain then sees them)."""
        if self.seat is not None:
            self.seat.leave()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.sock.close()
        await asyncio.gather(*self._connecting, return_exceptions=True)

    async def _accept_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                connection = await self._next_connection(loop)
            except OSError as error:
                if error.errno in OUT_OF_RESOURCES:
                    await self._wait_for_room(error)
                elif error.errno not in GONE_BEFORE_ACCEPT:
                    self.log.error("accept", "accepting a connection failed: %s", error)
                    await asyncio.sleep(ERROR_PAUSE)
                continue
            connecting = loop.create_task(self._serve(loop, connection, self._opened()))
            self._connecting.add(connecting)
            connecting.add_done_callback(self._connecting.discard)

    async def _next_connection(self, loop: asyncio.AbstractEventLoop) -> socket.socket:
        """The next pending connection: at once when one is queued, else when one arrives;
        balanced, once it is this worker's turn.

        It is accepted only once this task runs again, never while it waits: cancelling the
        wait (``stop``) drops no connection the kernel already handed to this process.
        """
        while True:
            if self.seat is not None:
                await self._turn(loop, self.seat)
            try:
                connection, _ = self.sock.accept()
                return connection
            except BlockingIOError:
                await self._readable(loop)

    async def _turn(self, loop: asyncio.AbstractEventLoop, seat: Seat) -> None:
        """Until this worker is among the least loaded accepting ones, or a connection
        waited MAX_DEFER for another worker to take it (or a peer is taken for stuck)."""
        deferred_since: float | None = None
        while not seat.may_accept():
            now = loop.time()
            if now < self._impatient_until:
                return
            if not self._pending.poll(0):  # none waits (another worker took it): wait afresh
                await self._readable(loop)
                deferred_since = None
                continue
            if deferred_since is None:
                deferred_since = now
            elif now - deferred_since >= MAX_DEFER:
                self._run_outs += 1
                if self._run_outs >= GIVE_UP:
                    self._run_outs = 0
                    self._impatient_until = now + IMPATIENCE
                return
            await self._closing_or(loop, DEFER)
        self._run_outs = 0

    async def _closing_or(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        """Until one of this worker's connections closes (its count drops), or ``timeout``."""
        self._on_close = woken = loop.create_future()
        timer = loop.call_later(timeout, _set_done, woken)
        try:
            await woken
        finally:
            timer.cancel()
            self._on_close = None

    async def _readable(self, loop: asyncio.AbstractEventLoop) -> None:
        """Until a connection waits on the listening socket (at the next turn of the loop
        when one waits already)."""
        readable = loop.create_future()
        loop.add_reader(self.sock.fileno(), _set_done, readable)
        try:
            await readable
        finally:
            loop.remove_reader(self.sock.fileno())

    def _opened(self) -> Callable[[], None]:
        """Count a connection just accepted; the returned ``closed()`` counts it gone (once,
        whichever of its protocol or a failed set-up calls it first)."""
        self.accepted += 1
        seat = self.seat
        if seat is not None:
            seat.publish(self.accepted)
        gone = False

        def closed() -> None:
            nonlocal gone
            if not gone:
                gone = True
                self.accepted -= 1
                if seat is not None:
                    seat.publish(self.accepted)
                if self._on_close is not None:
                    _set_done(self._on_close)
        return closed

    async def _serve(self, loop: asyncio.AbstractEventLoop, connection: socket.socket,
                     closed: Callable[[], None]) -> None:
        try:
            connection.setblocking(False)
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await loop.connect_accepted_socket(lambda: self.protocol_factory(closed),
                                               connection)
        except OSError:  # the client left before its transport was set up
            connection.close()
            closed()

    async def _wait_for_room(self, error: OSError) -> None:
        """Close idle connections, then wait until one closes (or ROOM_WAIT passes)."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*self._connecting)  # connections accepted in this burst, counted
        await asyncio.sleep(0)                   # and waiting for their first request
        before = self.open_connections()
        closed = self.make_room()
        self.log.warning("descriptors", "out of file descriptors (%s) with %d connections "
                         "open: not accepting until one frees; closed %d idle",
                         error.strerror, before, closed)
        deadline = loop.time() + ROOM_WAIT
        while self.open_connections() >= before and loop.time() < deadline:
            await asyncio.sleep(ROOM_POLL)


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
