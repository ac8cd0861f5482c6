"""The master's bookkeeping: worker processes, and the slots (worker ids) they fill.

A slot is a worker_id that should have a serving worker. It remembers how its recent
workers ended, which is what restart backoff and the give-up rule are made of. A worker
holds its pipe; the pipe knows the worker only by pid (imports go this way only).

The restart rule: a worker that served (it reached serving, then answered at least one
request or lived until STABLE_AFTER seconds after its fork) is replaced at once, however
often its slot lost one: its death is no crash loop. A worker that died while booting, or
within STABLE_AFTER seconds of its fork without answering any request, is replaced after a
backoff: BACKOFF_FIRST seconds, doubling with each such death in a row, up to BACKOFF_MAX.
Health probes are not requests here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from framework.http.transport.balance import Seat
    from framework.server.master.worker_pipe import WorkerPipe

__all__ = ["BACKOFF_FIRST", "BACKOFF_MAX", "BOOTING", "MAX_BOOT_FAILURES", "SERVING",
           "STABLE_AFTER", "STOPPING", "Slot", "WorkerProcess", "worker_name"]

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
    answered: bool = False                # it answered a request (health probes aside)
    seat: Seat | None = None              # its cell of the AcceptTable, if it has one

    def __str__(self) -> str:
        return worker_name(self.worker_id, self.pid)

    def uptime(self, now: float) -> float:
        return now - self.started

    def served(self, now: float) -> bool:
        """True once it proved it works: past booting, it answered a request or lived
        STABLE_AFTER seconds; its death then calls for no backoff."""
        return self.state != BOOTING and (self.answered or self.uptime(now) >= STABLE_AFTER)


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

    def record_exit(self, worker: WorkerProcess, now: float) -> str:
        """Count the death of one of the slot's workers and set when the next one may start;
        returns which case it was, as the log says it."""
        self.restarts += 1
        if worker.served(now):
            self.early_exits = self.boot_failures = 0
            self.spawn_after = now
            return ("after answering requests" if worker.answered
                    else f"after running {worker.uptime(now):.1f} s") + ": replaced at once"
        booting = worker.state == BOOTING
        self.boot_failures = self.boot_failures + 1 if booting else 0
        delay = self.back_off(now)
        case = (f"while booting (failure {self.boot_failures} of {MAX_BOOT_FAILURES} in a row)"
                if booting else f"{worker.uptime(now):.1f} s after starting, before answering "
                "any request")
        return f"{case}: replaced in {delay:.2f} s (backoff)"

    def vacate(self, worker: WorkerProcess, generation: int, now: float) -> str | None:
        """Take the dead ``worker`` out of the slot; when that is a restart, its case and
        timing (as record_exit says them), else None: not the slot's, or the successor of a
        reload that stopped (it runs a generation past ``generation``: no backoff)."""
        if worker not in (self.current, self.successor):
            return None
        abandoned = worker is self.successor and worker.generation > generation
        if worker is self.current:
            self.current, self.successor = self.successor, None
        else:
            self.successor = None
        return None if abandoned else self.record_exit(worker, now)

    def back_off(self, now: float) -> float:
        """Delay the slot's next worker, twice as long as the last time; returns the delay."""
        self.early_exits += 1
        delay: float = min(BACKOFF_FIRST * 2.0 ** (self.early_exits - 1), BACKOFF_MAX)
        self.spawn_after = now + delay
        return delay

    def record_serving(self) -> None:
        self.boot_failures = 0

    @property
    def failing(self) -> bool:
        """True once its workers have died before serving MAX_BOOT_FAILURES times in a row."""
        return self.boot_failures >= MAX_BOOT_FAILURES
