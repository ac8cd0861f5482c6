"""What the workers tell the master over their pipes, written into its bookkeeping.

Every WorkerPipe tells its PipeListener (abc.py) by the worker's pid: a worker that is
ready serves (and master-side listeners hear on_worker_online), any frame proves it alive
(worker_timeout), its first answer to a request means its death needs no backoff, a retire
asks for a successor, a boot error is kept for the log (and stops a reload of its
generation), and a closed pipe wakes the arbiter to reap it. A pid no longer live is ignored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from framework import events
from framework.server.master.notices import WorkerNotices
from framework.server.master.rolling import Reloads
from framework.server.master.slots import BOOTING, SERVING, Slot, WorkerProcess

__all__ = ["WorkerReports"]

logger = logging.getLogger("framework.server")


class WorkerReports:
    """The master's PipeListener: ``workers`` (live, by pid) and ``slots`` are the arbiter's;
    ``wakeup`` makes it look at its workers again."""

    def __init__(self, workers: Mapping[int, WorkerProcess], slots: Mapping[int, Slot],
                 notices: WorkerNotices, reloads: Reloads, wakeup: Callable[[], None]) -> None:
        self._workers = workers
        self._slots = slots
        self._notices = notices
        self._reloads = reloads
        self._wakeup = wakeup

    def worker_ready(self, pid: int) -> None:
        """It serves: its slot's boot failures are forgiven."""
        self.worker_heard_from(pid)
        worker = self._workers.get(pid)
        if worker is None or worker.state != BOOTING:
            return
        worker.state = SERVING
        logger.info("%s serving", worker)
        slot = self._slots.get(worker.worker_id)
        if slot is not None:
            slot.record_serving()
        self._notices.notify(events.on_worker_online,
                             events.WorkerEvent(worker.worker_id, worker.pid))
        self._wakeup()

    def worker_heard_from(self, pid: int) -> None:
        worker = self._workers.get(pid)
        if worker is not None:
            worker.last_seen = time.monotonic()

    def worker_answered(self, pid: int) -> None:
        """It answered its first request: should it die now, it is replaced at once. The
        worker says so before the answer goes out, so a client that saw the answer (and
        kills the worker) finds the master told already."""
        worker = self._workers.get(pid)
        if worker is not None:
            worker.answered = True

    def worker_retiring(self, pid: int, reason: str) -> None:
        """It asks to be replaced (max_requests, max_memory_mb)."""
        worker = self._workers.get(pid)
        if worker is not None and worker.retire_reason is None:
            logger.info("%s asks to be replaced: %s", worker, reason)
            worker.retire_reason = reason
            self._wakeup()

    def worker_boot_failed(self, pid: int, error: str) -> None:
        worker = self._workers.get(pid)
        if worker is not None:
            worker.boot_error = error
        self._reloads.boot_failed(pid, worker, error)

    def worker_closed_pipe(self, pid: int) -> None:
        self._wakeup()
