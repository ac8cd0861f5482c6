"""``Supervisor``: the master's workers, for master-side code (monitoring, admin endpoints).

Injectable in the master; ``workers`` lists who runs now and ``await stats()`` asks every
worker, over its pipe, for its memory, requests served and uptime.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol


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


class SupervisedServer(Protocol):
    def worker_infos(self) -> list[WorkerInfo]: ...
    async def worker_stats(self, timeout: float) -> list[WorkerStats]: ...


_server: SupervisedServer | None = None


def watch(server: SupervisedServer) -> None:
    """Called by the master when it starts supervising."""
    global _server
    _server = server


def forget(server: SupervisedServer) -> None:
    global _server
    if _server is server:
        _server = None


def _forget_in_child() -> None:
    global _server
    _server = None


os.register_at_fork(after_in_child=_forget_in_child)


class Supervisor:
    """The master's view of its workers; empty in a single-process server."""

    @property
    def workers(self) -> list[WorkerInfo]:
        server = _master()
        return server.worker_infos() if server is not None else []

    async def stats(self, timeout: float = 2.0) -> list[WorkerStats]:
        """Each worker's own figures; a worker silent for ``timeout`` seconds is left out."""
        server = _master()
        return await server.worker_stats(timeout) if server is not None else []


def _master() -> SupervisedServer | None:
    from framework.process import process_info

    if process_info().is_worker:
        raise RuntimeError("Supervisor belongs to the master process: use it in master-side "
                           "listeners (on_server_main_bootstrap, on_worker_online, ...), "
                           "not in a worker")
    return _server
