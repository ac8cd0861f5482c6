"""Background work declared on listener classes: ``@jobs.consumer(queue)`` takes a queue's
messages in every worker, ``@jobs.every(...)`` and ``@jobs.cron("...")`` run once per tick in
the whole server; each run opens a job scope (see docs/jobs.md)."""

from framework.jobs.declarations import consumer, cron, every
from framework.jobs.scheduler import LEASE_TTL, SCHEDULE_QUEUE
from framework.jobs.service import JobService, start_jobs

__all__ = ["LEASE_TTL", "SCHEDULE_QUEUE", "JobService", "consumer", "cron", "every",
           "start_jobs"]
