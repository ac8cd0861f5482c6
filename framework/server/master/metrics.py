"""The whole server's /metrics, summed by the master from every process's snapshot.

The master keeps each live worker's last snapshot (workers report every REPORT_EVERY
seconds, when they stop, and when a scrape asks them: see worker_metrics.py, the workers'
side) and, when a worker's pipe closes, folds its counters and histograms into the retired
sums: a replaced worker's counts stay, so totals never go back while the master lives.
What is lost: what a worker counted after its last report when it dies without stopping
(SIGKILL, a crash), at most REPORT_EVERY seconds' worth. A worker that does not answer a
scrape within SCRAPE_TIMEOUT counts with its last report, without its gauges, and is logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from framework.metrics import Metrics, Snapshot
from framework.metrics_sum import MASTER, MetricsSum, workers_gauge
from framework.ratelimit import RateLimitedLog
from framework.server.master.slots import SERVING

if TYPE_CHECKING:
    from framework.server.master.slots import WorkerProcess

logger = logging.getLogger("framework.metrics")

__all__ = ["SCRAPE_TIMEOUT", "ServerMetrics", "WorkerMetrics"]

SCRAPE_TIMEOUT = 1.0    # how long a scrape waits for each worker's snapshot


class ServerMetrics:
    """The master's sums: ``own`` (the master's Metrics), the retired workers' counters and
    each live worker's last snapshot; ``workers`` is the Arbiter's dict of live workers."""

    def __init__(self, own: Metrics, workers: Mapping[int, WorkerProcess]) -> None:
        self._own = own
        self._workers = workers
        self._retired = MetricsSum()
        self._last: dict[int, tuple[str, Snapshot]] = {}   # by pid: worker label, snapshot
        self._restarts = own.counter(
            "fw_worker_restarts_total",
            "Workers replaced after they exited unasked (crashed, killed, timed out)")
        self._scraping: asyncio.Future[bytes] | None = None
        self._silent = RateLimitedLog(logger, 60.0)

    def worker_restarted(self) -> None:
        self._restarts.inc()

    def of_worker(self, pid: int, worker_id: int) -> WorkerMetrics:
        """What the pipe of worker ``pid`` (of slot ``worker_id``) reports to."""
        return WorkerMetrics(self, pid, str(worker_id))

    def report(self, pid: int, label: str, snapshot: Snapshot) -> None:
        """Worker ``pid``'s figures now (they replace its last ones)."""
        self._last[pid] = (label, snapshot)

    def retire(self, pid: int) -> None:
        """Worker ``pid`` is gone (its pipe closed, every frame read): keep its counts."""
        last = self._last.pop(pid, None)
        if last is not None:
            self._retired.add(last[1], last[0], gauges=False)

    async def exposition(self) -> bytes:
        """The whole server's text format; scrapes that arrive meanwhile share one gathering."""
        if self._scraping is None:
            self._scraping = asyncio.ensure_future(self._scrape())
            self._scraping.add_done_callback(self._scraped)
        return await asyncio.shield(self._scraping)

    def _scraped(self, scraping: asyncio.Future[bytes]) -> None:
        self._scraping = None

    async def _scrape(self) -> bytes:
        workers = list(self._workers.values())
        answers = await asyncio.gather(*(w.pipe.metrics(SCRAPE_TIMEOUT) for w in workers))
        answered = {w.pid for w, answer in zip(workers, answers, strict=True) if answer}
        silent = [str(w) for w in workers if w.pid not in answered]
        if silent:
            self._silent.warning("silent", "metrics: %s did not answer within %.1f s: their "
                                 "last reported counts are used", ", ".join(silent),
                                 SCRAPE_TIMEOUT)
        summed = self._retired.copy()
        summed.add(self._own.snapshot(), MASTER)
        for pid, (label, snapshot) in self._last.items():
            summed.add(snapshot, label, gauges=pid in answered)
        summed.add(workers_gauge(sum(w.state == SERVING for w in workers)), None)
        return summed.exposition()


class WorkerMetrics:
    """One worker's part in ServerMetrics, for its pipe (abc.PipeMetrics)."""

    def __init__(self, server: ServerMetrics, pid: int, label: str) -> None:
        self._server = server
        self._pid = pid
        self._label = label

    def report(self, snapshot: Snapshot) -> None:
        self._server.report(self._pid, self._label, snapshot)

    def retire(self) -> None:
        self._server.retire(self._pid)

    async def exposition(self) -> bytes:
        return await self._server.exposition()
