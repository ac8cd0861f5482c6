"""Which process this is: the master (or the one process) or a numbered worker.

The role belongs to the process, not to an App: a process is one worker however many Apps it
builds, and ``process_info()`` is asked where no App is at hand (log lines, scripts). So it
lives in one place, set once by the server right after the fork (``become_worker``), and
each App's container is given the same ProcessInfo (see server/worker.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcessInfo:
    """The role of the current process; injectable, and also from `process_info()`."""

    is_master: bool
    is_worker: bool
    worker_id: int | None
    pid: int


# This process's role once the server made it a worker; a process forked from a worker (its
# pid differs) is not that worker.
_worker: ProcessInfo | None = None


def become_worker(worker_id: int) -> ProcessInfo:
    """Make this process worker ``worker_id`` (the server does it once, after the fork)."""
    global _worker
    _worker = ProcessInfo(is_master=False, is_worker=True, worker_id=worker_id,
                          pid=os.getpid())
    return _worker


def process_info() -> ProcessInfo:
    """The current process's role and pid: a worker's once it became one, else the master."""
    pid = os.getpid()
    if _worker is not None and _worker.pid == pid:
        return _worker
    return ProcessInfo(is_master=True, is_worker=False, worker_id=None, pid=pid)
