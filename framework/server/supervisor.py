"""``Supervisor``: the master's workers, for master-side code (monitoring, admin endpoints).

Injectable in the master; ``workers`` lists who runs now and ``await stats()`` asks every
worker, over its pipe, for its memory, requests served and uptime.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework.server.slots import WorkerProcess


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


# The live workers of the master running in this process, by pid (the Arbiter's own dict).
_workers: dict[int, WorkerProcess] | None = None


def watch(workers: dict[int, WorkerProcess]) -> None:
    """Called by the master when it starts supervising."""
    global _workers
    _workers = workers


def forget(workers: dict[int, WorkerProcess]) -> None:
    global _workers
    if _workers is workers:
        _workers = None


def _forget_in_child() -> None:
    global _workers
    _workers = None


os.register_at_fork(after_in_child=_forget_in_child)


class Supervisor:
    """The master's view of its workers; empty in a single-process server."""

    @property
    def workers(self) -> list[WorkerInfo]:
        return [WorkerInfo(w.worker_id, w.pid, w.started_at, w.restarts, w.state)
                for w in _running_workers()]

    async def stats(self, timeout: float = 2.0) -> list[WorkerStats]:
        """Each worker's own figures; a worker silent for ``timeout`` seconds is left out."""
        workers = _running_workers()
        replies = await asyncio.gather(*(w.pipe.stats(timeout) for w in workers))
        stats = []
        for worker, reply in zip(workers, replies, strict=True):
            if reply is not None:
                try:
                    stats.append(WorkerStats.from_reply(worker.worker_id, worker.pid, reply))
                except (KeyError, TypeError, ValueError):
                    continue  # a worker's malformed answer counts as no answer
        return stats


def _running_workers() -> list[WorkerProcess]:
    from framework.process import process_info

    if process_info().is_worker:
        raise RuntimeError("Supervisor belongs to the master process: use it in master-side "
                           "listeners (on_server_main_bootstrap, on_worker_online, ...), "
                           "not in a worker")
    workers = list(_workers.values()) if _workers is not None else []
    return sorted(workers, key=lambda worker: (worker.worker_id, worker.started))
