"""Which process this is: the master (or the one process) or a numbered worker."""

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


_worker_id: int | None = None


def set_worker_role(worker_id: int | None) -> None:
    """Mark this process as worker ``worker_id`` (the server calls it after a fork).

    ``None`` is the default state: the master, or the one process that serves everything.
    """
    global _worker_id
    _worker_id = worker_id


def process_info() -> ProcessInfo:
    """The current process's role and pid (read now, so a forked child sees its own pid)."""
    is_worker = _worker_id is not None
    return ProcessInfo(is_master=not is_worker, is_worker=is_worker, worker_id=_worker_id,
                       pid=os.getpid())
