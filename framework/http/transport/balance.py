"""AcceptTable: how many connections each worker holds, so the least loaded one accepts next.

Workers that accept from one inherited listening socket are all woken by a new connection,
and whichever runs first takes it: a burst of keep-alive connections (a load balancer's
pool, wrk) lands mostly on one worker, which then serves all of it alone. The master makes
this table before it forks (an anonymous shared mmap, inherited by every worker; nothing
is pickled): a cell per live worker process, holding the number of connections that worker
has open, or NOT_ACCEPTING (booting, draining, stopped, dead). A worker's Acceptor
publishes its count into its own cell (its Seat) and takes a pending connection only while
its count is within SLACK of the lowest accepting one; otherwise it steps aside briefly
(see accepting.py).

A cell belongs to a worker process, not to a worker id: during a reload or a recycle the
slot's old worker and its successor accept side by side. The master takes a cell for each
worker it forks and gives it back (NOT_ACCEPTING) when it reaps the worker, so a worker
that died, even by SIGKILL, never leaves a stale count behind for long. CELLS cells hold
every live worker (successors and draining ones included); a worker forked while all are
taken gets no seat: it accepts as the unbalanced loop does, and the others do not count it.
"""

from __future__ import annotations

import heapq
import mmap

CELLS = 256
NOT_ACCEPTING = 2**31 - 1  # above any count: min() over the cells skips it by itself
SLACK = 1                  # a worker accepts while its count <= the lowest count + SLACK
_IN_USE = 0                # cell 0 holds the highest cell ever handed out


class Seat:
    """One worker's cell: it publishes its open-connection count and reads everyone's."""

    __slots__ = ("_cells", "index", "_accepting")

    def __init__(self, cells: memoryview, index: int) -> None:
        self._cells = cells
        self.index = index
        self._accepting = False

    def accepting(self, count: int) -> None:
        """This worker accepts from now on, with ``count`` connections open."""
        self._accepting = True
        self._cells[self.index] = count

    def publish(self, count: int) -> None:
        """``count`` connections open now (ignored once it stopped accepting)."""
        if self._accepting:
            self._cells[self.index] = count

    def leave(self) -> None:
        """This worker accepts no more: the others stop counting it."""
        self._accepting = False
        self._cells[self.index] = NOT_ACCEPTING

    def may_accept(self) -> bool:
        """True while this worker's count is within SLACK of the lowest count of the
        accepting workers (its own included)."""
        cells = self._cells
        return cells[self.index] <= min(cells[1:1 + cells[_IN_USE]]) + SLACK


class AcceptTable:
    """The master's table: a cell handed to each worker it forks, taken back when it reaps."""

    def __init__(self, cells: int = CELLS) -> None:
        self._memory = mmap.mmap(-1, 4 * (cells + 1))  # anonymous, MAP_SHARED: fork shares it
        self._cells = memoryview(self._memory).cast("i")
        self._free = list(range(1, cells + 1))  # a heap: the lowest first, live cells stay dense
        for index in self._free:
            self._cells[index] = NOT_ACCEPTING

    def take(self) -> Seat | None:
        """A free cell, marked NOT_ACCEPTING, as the seat of the worker about to be forked;
        None when every cell is held by a live worker."""
        if not self._free:
            return None
        index = heapq.heappop(self._free)
        self._cells[_IN_USE] = max(self._cells[_IN_USE], index)
        return Seat(self._cells, index)

    def give_back(self, seat: Seat) -> None:
        """The seat's worker is gone (reaped, or never forked): NOT_ACCEPTING, and free."""
        seat.leave()
        heapq.heappush(self._free, seat.index)

