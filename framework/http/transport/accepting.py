"""Acceptor: fw's accept loop on a listening socket, the same on asyncio's loop and uvloop.

When descriptors run out (EMFILE and kin), the loops' own accept loops misbehave: asyncio's
logs a traceback per backlog slot and retries every second, uvloop's accepts and drops every
pending connection, legitimate ones included. The Acceptor instead asks for room (idle
connections close), waits until a descriptor frees, and logs one line per few seconds; the
connections already open are served throughout.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable

from framework.ratelimit import RateLimitedLog

OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
GONE_BEFORE_ACCEPT = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM})
ROOM_WAIT = 1.0      # seconds to wait for a descriptor to free before trying again anyway
ROOM_POLL = 0.05     # seconds between two looks at the number of open connections
ERROR_PAUSE = 1.0    # seconds before accepting again after an unexpected accept error

logger = logging.getLogger("framework.server")


class Acceptor:
    """Accepts connections on ``sock`` and hands each to ``protocol_factory``'s protocol.

    ``open_connections()`` counts the connections open now; ``make_room()`` closes idle ones
    and says how many.
    """

    def __init__(self, sock: socket.socket, protocol_factory: Callable[[], asyncio.Protocol],
                 open_connections: Callable[[], int], make_room: Callable[[], int]) -> None:
        self.sock = sock
        self.protocol_factory = protocol_factory
        self.open_connections = open_connections
        self.make_room = make_room
        self.log = RateLimitedLog(logger, interval=5.0)
        self._task: asyncio.Task[None] | None = None
        self._connecting: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.sock.setblocking(False)
        self._task = asyncio.get_running_loop().create_task(self._accept_forever(),
                                                            name="accept")

    async def stop(self) -> None:
        """Stop accepting and close the listening socket in this process; the connections
        accepted already are handed to their protocol first (a drain then sees them)."""
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
            connecting = loop.create_task(self._serve(loop, connection))
            self._connecting.add(connecting)
            connecting.add_done_callback(self._connecting.discard)

    async def _next_connection(self, loop: asyncio.AbstractEventLoop) -> socket.socket:
        """The next pending connection: at once when one is queued, else when one arrives.

        It is accepted only once this task runs again, never while it waits: cancelling the
        wait (``stop``) drops no connection the kernel already handed to this process.
        """
        while True:
            try:
                connection, _ = self.sock.accept()
                return connection
            except BlockingIOError:
                readable = loop.create_future()
                loop.add_reader(self.sock.fileno(), _set_done, readable)
                try:
                    await readable
                finally:
                    loop.remove_reader(self.sock.fileno())

    async def _serve(self, loop: asyncio.AbstractEventLoop, connection: socket.socket) -> None:
        try:
            connection.setblocking(False)
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await loop.connect_accepted_socket(self.protocol_factory, connection)
        except OSError:  # the client left before its transport was set up
            connection.close()

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
