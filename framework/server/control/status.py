"""What ``fw server:status`` reports: the server and each worker (frames.py's ServerFigures).

The master fills it from its bookkeeping and the workers' own figures (asked over their
pipes); the one process (workers=0) reports itself with no workers. A worker that did not
answer in time has None for the figures only it knows (requests, in flight, RSS).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping

from framework.config import FrameworkConfig
from framework.server.control.frames import ServerFigures, WorkerStatus
from framework.server.loops import loop_name
from framework.server.master.slots import WorkerProcess
from framework.server.master.supervisor import WorkerStats

MIB = 1024 * 1024


def server_status(*, app: str, address: str, uptime: float, generation: int,
                  config: FrameworkConfig, workers_wanted: int,
                  workers: Iterable[WorkerProcess] = (),
                  stats: Mapping[int, WorkerStats] | None = None) -> ServerFigures:
    """The whole server: its master (this process) and each live worker, by worker id."""
    now = time.monotonic()
    figures = stats or {}
    return {
        "pid": os.getpid(), "app": app, "address": address, "uptime": round(uptime, 3),
        "generation": generation, "broker": "redis" if config.broker_url else "memory",
        "loop": loop_name(config.loop),
        "workers_wanted": workers_wanted,
        "workers": [worker_status(worker, figures.get(worker.pid), now)
                    for worker in sorted(workers, key=lambda w: (w.worker_id, w.started))],
    }


def worker_status(worker: WorkerProcess, stats: WorkerStats | None,
                  now: float) -> WorkerStatus:
    """One worker: the master's view of it, and its own figures when it answered."""
    return {
        "id": worker.worker_id, "pid": worker.pid, "state": worker.state,
        "generation": worker.generation, "uptime": round(worker.uptime(now), 3),
        "requests": None if stats is None else stats.requests_served,
        "in_flight": None if stats is None else stats.in_flight,
        "rss_mb": None if stats is None else round(stats.rss / MIB, 1),
        "restarts": worker.restarts,
    }
