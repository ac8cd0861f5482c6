"""The master's bookkeeping: worker processes, and the slots (worker ids) they fill.

A slot is a worker_id that should have a serving worker. It remembers how its recent
workers ended, which is what restart backoff and the give-up rule are made of. A worker
holds its pipe; the pipe knows the worker only by pid (imports go this way only).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from framework.server.worker_pipe import WorkerPipe

# A worker that dies before serving, or within STABLE_AFTER seconds of starting, is an
# early exit: its slot's next worker waits BACKOFF_FIRST seconds, doubling up to
# BACKOFF_MAX. A worker killed while serving for longer is replaced at once.
STABLE_AFTER = 3.0
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 10.0
# A slot whose workers die before serving this many times in a row stops the master.
MAX_BOOT_FAILURES = 5

BOOTING, SERVING, STOPPING = "booting", "serving", "stopping"


def worker_name(worker_id: int, pid: int) -> str:
    """How logs name a worker: ``worker 2 (pid 4242)``."""
    return f"worker {worker_id} (pid {pid})"


@dataclass(eq=False)
class WorkerProcess:
    """One forked worker as the master sees it, with the master's end of its pipe."""

    worker_id: int
    pid: int
    generation: int
    pipe: WorkerPipe
    restarts: int
    started_at: float = field(default_factory=time.time)
    started: float = field(default_factory=time.monotonic)
    last_seen: float = field(default_factory=time.monotonic)
    state: str = BOOTING
    retire_reason: str | None = None      # why it asked to be replaced, if it did
    stop_deadline: float | None = None    # when a stopping worker is killed
    boot_error: str | None = None         # the exception that stopped its bootstrap

    def __str__(self) -> str:
        return worker_name(self.worker_id, self.pid)

    def uptime(self, now: float) -> float:
        return now - self.started


@dataclass(eq=False)
class Slot:
    """A worker_id: its current worker, the successor replacing it, and its restart history."""

    worker_id: int
    current: WorkerProcess | None = None
    successor: WorkerProcess | None = None
    restarts: int = 0
    early_exits: int = 0
    boot_failures: int = 0
    spawn_after: float = 0.0

    def record_exit(self, worker: WorkerProcess, now: float) -> None:
        """Count the death of one of the slot's workers; sets when the next one may start."""
        self.restarts += 1
        booting = worker.state == BOOTING
        self.boot_failures = self.boot_failures + 1 if booting else 0
        if booting or worker.uptime(now) < STABLE_AFTER:
            self.back_off(now)
        else:
            self.early_exits = 0
            self.spawn_after = now

    def back_off(self, now: float) -> None:
        """Delay the slot's next worker, twice as long as the last time."""
        self.early_exits += 1
        self.spawn_after = now + min(BACKOFF_FIRST * 2 ** (self.early_exits - 1), BACKOFF_MAX)

    def record_serving(self) -> None:
        self.boot_failures = 0

    @property
    def failing(self) -> bool:
        """True once its workers have died before serving MAX_BOOT_FAILURES times in a row."""
        return self.boot_failures >= MAX_BOOT_FAILURES
