"""ConnectionGuard: closes connections that hold a descriptor without sending a request.

Two jobs on the same bookkeeping: a sweep every fraction of ``header_read_timeout`` closes a
connection that has waited that long for a whole request head (from accept or from its last
response), and ``make_room()`` closes idle connections when descriptors run out. Connections
busy with a request, and upgraded WebSockets, are never touched. Nothing runs per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from framework.http.transport.protocol import Connection

MIN_SWEEP = 0.05  # seconds between two sweeps, at least ...
MAX_SWEEP = 1.0   # ... and at most
SWEEPS_PER_TIMEOUT = 4


class ConnectionGuard:
    """Watches ``connections()`` (the server's open connections) for the ones waiting idle."""

    def __init__(self, connections: Callable[[], list[Connection]],
                 header_read_timeout: float) -> None:
        self.connections = connections
        self.header_read_timeout = header_read_timeout
        # connection -> (requests it had received, when it was first seen waiting with them)
        self._waiting: dict[Connection, tuple[int, float]] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Sweep until ``stop()``; a header_read_timeout of 0 means no head deadline."""
        if self.header_read_timeout > 0:
            self._sweeper = asyncio.get_running_loop().create_task(
                self._sweep_forever(), name="connection guard")

    def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    async def _sweep_forever(self) -> None:
        interval = min(max(self.header_read_timeout / SWEEPS_PER_TIMEOUT, MIN_SWEEP), MAX_SWEEP)
        while True:
            await asyncio.sleep(interval)
            self.close_overdue()

    def close_overdue(self) -> int:
        """Close every connection that waited header_read_timeout for a request head."""
        closed = 0
        now = asyncio.get_running_loop().time()
        for connection, since in self._note_waiting(now).items():
            if now - since >= self.header_read_timeout:
                connection.force_close()
                closed += 1
        return closed

    def make_room(self) -> int:
        """Close the longest-waiting half of the idle connections, at least one: kept-alive
        ones after a response first, then ones that never sent a request. How many closed."""
        waiting = self._note_waiting(asyncio.get_running_loop().time())
        if not waiting:
            return 0
        oldest_first = sorted(waiting, key=lambda connection: (
            connection.requests_received == 0, waiting[connection]))
        victims = oldest_first[:max(1, len(oldest_first) // 2)]
        for connection in victims:
            connection.force_close()
        return len(victims)

    def _note_waiting(self, now: float) -> dict[Connection, float]:
        """The connections waiting for a request head, each with since when (as far as the
        sweeps saw: a new request on a connection starts its wait afresh)."""
        noted: dict[Connection, tuple[int, float]] = {}
        for connection in self.connections():
            if not connection.waiting_for_request:
                continue
            received = connection.requests_received
            seen = self._waiting.get(connection)
            noted[connection] = seen if seen is not None and seen[0] == received else (
                received, now)
        self._waiting = noted
        return {connection: since for connection, (_, since) in noted.items()}
