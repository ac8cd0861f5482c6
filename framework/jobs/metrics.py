"""The job figures of one process (fw_jobs_*_total{queue}, fw_scheduler_lease_holder) in its
Metrics, so the server's /metrics shows how background work goes, per queue."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from framework.broker.adapter import is_last_attempt, job_attempt
from framework.metrics import Metrics

JobRun = Callable[[object], Awaitable[None]]  # runs one job, given its message


class JobMetrics:
    """Counts jobs by outcome per queue, and says whether this process holds the scheduler
    lease. Declaring it twice on one Metrics shares the same instruments."""

    def __init__(self, metrics: Metrics) -> None:
        labels = ("queue",)
        self._processed = metrics.counter(
            "fw_jobs_processed_total", "Jobs whose handler finished, by queue", labels)
        self._failed = metrics.counter(
            "fw_jobs_failed_total", "Job attempts whose handler raised, by queue", labels)
        self._retried = metrics.counter(
            "fw_jobs_retried_total", "Failed job attempts put back for another try, by queue",
            labels)
        self._dead = metrics.counter(
            "fw_jobs_dead_total", "Jobs moved to the dead-letter queue <queue>.dead, by queue",
            labels)
        self._lease = metrics.gauge(
            "fw_scheduler_lease_holder", "1 in the process holding the scheduler lease, else 0")

    def watch(self, queue: str) -> None:
        """Show ``queue``'s counters from zero, before its first job."""
        for counter in (self._processed, self._failed, self._retried, self._dead):
            counter.labels(queue)

    def processed(self, queue: str) -> None:
        """One job of ``queue`` done."""
        self._processed.labels(queue).inc()

    def failed(self, queue: str, *, dead: bool) -> None:
        """One attempt of a ``queue`` job raised: retried later, or (``dead``) given up on."""
        self._failed.labels(queue).inc()
        (self._dead if dead else self._retried).labels(queue).inc()

    def counted(self, queue: str, run: JobRun) -> JobRun:
        """``run`` (a job handler of ``queue``) counting each outcome: processed, or failed
        and then retried or dead, as the broker's attempt count for the job says."""
        self.watch(queue)

        async def run_and_count(message: object) -> None:
            try:
                await run(message)
            except Exception:
                self.failed(queue, dead=is_last_attempt(*job_attempt.get()))
                raise
            self.processed(queue)
        return run_and_count

    def lease_held(self, held: bool) -> None:
        """This process took (True) or lost (False) the scheduler lease."""
        self._lease.set(1.0 if held else 0.0)
