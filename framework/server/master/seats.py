"""The master's side of balanced accepting: a cell of the AcceptTable for each live worker.

The table (framework/http/transport/balance.py) is made before the first fork, only when the
workers share the master's listening socket (not with reuse_port). The master takes a cell
(a Seat) for each worker it forks and gives it back when it reaps that worker, so a dead
worker's count never holds the others back.
"""

from __future__ import annotations

import logging

from framework.http.transport.balance import CELLS, AcceptTable, Seat

__all__ = ["AcceptSeats"]

logger = logging.getLogger("framework.server")


class AcceptSeats:
    """Hands out and takes back the AcceptTable's cells; with ``balanced`` off, none."""

    def __init__(self, balanced: bool) -> None:
        self.table = AcceptTable() if balanced else None

    def take(self, worker_id: int) -> Seat | None:
        """The cell of the worker about to be forked for ``worker_id`` (None with reuse_port,
        or when every cell is held: that worker then accepts unbalanced)."""
        if self.table is None:
            return None
        seat = self.table.take()
        if seat is None:
            logger.warning("more than %d live workers: worker %d accepts without balancing",
                           CELLS, worker_id)
        return seat

    def give_back(self, seat: Seat | None) -> None:
        """Its worker is gone (or was never forked): the others stop counting its cell."""
        if seat is not None and self.table is not None:
            self.table.give_back(seat)
