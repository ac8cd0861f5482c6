"""``Supervisor``: the master's workers, for master-side code (monitoring, admin endpoints).

Injectable in the master (and in the one process, which has no workers); ``workers`` lists
who runs now and ``await stats()`` asks every worker, over its pipe, for its memory, requests
served and uptime. A worker that asks for it gets a ScopeError naming where it belongs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from framework.di.errors import ScopeError
from framework.process import ProcessInfo

if TYPE_CHECKING:
    from framework.server.master.slots import WorkerProcess

__all__ = ["Supervisor", "WorkerInfo", "WorkerStats", "supervisor_of_this_process"]


@dataclass(frozen=True)
class WorkerInfo:
    """One worker process: ``state`` is "booting", "serving" or "stopping"."""

    worker_id: int
    pid: int
    started_at: float       # Unix time
    restarts: int           # workers its slot had before this one
    state: str


@dataclass(frozen=True)
class WorkerStats:
    """What a worker reports about itself."""

    worker_id: int
    pid: int
    rss: int                # bytes
    requests_served: int
    in_flight: int
    uptime: float           # seconds

    @classmethod
    def from_reply(cls, worker_id: int, pid: int, reply: dict[str, Any]) -> WorkerStats:
        return cls(worker_id, pid, int(reply["rss"]), int(reply["requests"]),
                   int(reply["in_flight"]), float(reply["uptime"]))


class Supervisor:
    """The master's view of ``workers``: its live worker processes by pid (the Arbiter's own
    dict, so it always lists who runs now)."""

    def __init__(self, workers: Mapping[int, WorkerProcess]) -> None:
        self._workers = workers

    @property
    def workers(self) -> list[WorkerInfo]:
        return [WorkerInfo(w.worker_id, w.pid, w.started_at, w.restarts, w.state)
                for w in self._running_workers()]

    async def stats(self, timeout: float = 2.0) -> list[WorkerStats]:
        """Each worker's own figures; a worker silent for ``timeout`` seconds is left out."""
        workers = self._running_workers()
        replies = await asyncio.gather(*(w.pipe.stats(timeout) for w in workers))
        stats = []
        for worker, reply in zip(workers, replies, strict=True):
            if reply is not None:
                try:
                    stats.append(WorkerStats.from_reply(worker.worker_id, worker.pid, reply))
                except (KeyError, TypeError, ValueError):
                    continue  # a worker's malformed answer counts as no answer
        return stats

    def _running_workers(self) -> list[WorkerProcess]:
        return sorted(self._workers.values(),
                      key=lambda worker: (worker.worker_id, worker.started))


def supervisor_of_this_process(process: ProcessInfo) -> Supervisor:
    """FrameworkModule's Supervisor: none in a worker; the one process supervises no workers.

    The master overrides it in its container with the Supervisor of its Arbiter.
    """
    if process.is_worker:
        raise ScopeError("Supervisor is only available in the master process: inject it in "
                         "master-side listeners (on_server_main_bootstrap, on_worker_online, "
                         f"...), not in worker {process.worker_id}")
    return Supervisor({})
