"""What operators may do to a master, over its control socket (control/listener.py).

``fw server:status`` reads the master's bookkeeping and asks every worker for its figures;
``server:scale`` and ``server:stop`` are requests the arbiter acts on at its next turn,
exactly as it does SIGTTIN/SIGTTOU and SIGTERM; ``server:reload`` is a rolling reload
(rolling.py). The Operator is the control socket's Operated; it uses of the arbiter only
what abc.Supervised says.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from framework.broker import BrokerHost
from framework.server.abc import Supervised
from framework.server.control.frames import ServerFigures
from framework.server.control.status import server_status
from framework.server.master.rolling import ReloadResult, Reloads
from framework.server.master.slots import WorkerProcess
from framework.server.master.supervisor import Supervisor

__all__ = ["STATS_TIMEOUT", "Operator"]

logger = logging.getLogger("framework.server")

STATS_TIMEOUT = 1.0     # how long a status waits for a worker's own figures


class Operator:
    """The operator actions on ``arbiter``, whose live ``workers`` (by pid) and ``reloads``
    they report and start."""

    def __init__(self, arbiter: Supervised, workers: Mapping[int, WorkerProcess],
                 reloads: Reloads) -> None:
        self._arbiter = arbiter
        self._workers = workers
        self._reloads = reloads

    @property
    def broker_host(self) -> BrokerHost | None:
        """The master's broker, which the CLI's broker connections share with the workers."""
        return self._arbiter.broker_host

    async def status(self) -> ServerFigures:
        """The server and each live worker, with the figures each gives over its pipe."""
        arbiter = self._arbiter
        stats = await Supervisor(self._workers).stats(STATS_TIMEOUT)
        return server_status(app=arbiter.app.name, address=arbiter.address,
                             uptime=time.monotonic() - arbiter.started,
                             generation=self._reloads.generation, config=arbiter.config,
                             workers_wanted=arbiter.num_workers,
                             workers=self._workers.values(), stats={s.pid: s for s in stats})

    async def reload(self, timeout: float) -> ReloadResult:
        """Roll every worker onto the code on disk now, within ``timeout`` (fw server:reload)."""
        return await self._reloads.reload(timeout)

    def scale(self, workers: int) -> None:
        """Keep ``workers`` workers serving from now on (fw server:scale)."""
        self._arbiter.num_workers = workers
        logger.info("master %d: %d workers wanted (fw server:scale)", self._arbiter.pid, workers)
        self._arbiter.wakeup()

    def request_stop(self, graceful: bool = True) -> float:
        """Stop as SIGTERM does (fw server:stop); not graceful: without draining. Returns
        how long the workers may take to drain."""
        how = "gracefully" if graceful else "at once"
        self._arbiter.request_halt(f"fw server:stop: stopping {how}", graceful)
        return self._arbiter.config.graceful_shutdown_timeout if graceful else 0.0
