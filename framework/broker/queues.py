"""One named queue's jobs and consumers: who gets the next job, and what returns on failure.

Also the dead-letter record every adapter writes to ``<name>.dead`` once a job has used up
its attempts: JSON ``{"message", "attempts", "error"}`` built around the message's own text.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from dataclasses import dataclass, field

_job_ids = itertools.count(1)

DEAD_SUFFIX = ".dead"


def dead_queue(queue: str) -> str:
    """Where the jobs of ``queue`` go once they have used up their attempts."""
    return queue + DEAD_SUFFIX


def dead_record(payload: str, attempts: int, error: str) -> str:
    """The dead letter of a job: its message (JSON text, kept as is), attempts, last error."""
    return (f'{{"message":{payload},"attempts":{int(attempts)},'
            f'"error":{json.dumps(error)}}}')


def dead_message(record: str) -> str:
    """The message text of a dead letter, to put back on its queue."""
    return json.dumps(json.loads(record)["message"], separators=(",", ":"))


@dataclass
class Job:
    """A produced message; ``attempt`` counts deliveries (1 on the first)."""

    payload: str
    id: int = field(default_factory=lambda: next(_job_ids))
    attempt: int = 0


@dataclass
class _Consumer:
    process: str
    consumer: int
    max_parallel: int
    in_flight: int = 0


class JobQueue:
    """Waiting jobs in order, consumers in turn, jobs in flight until acked or retried."""

    def __init__(self) -> None:
        self._waiting: deque[Job] = deque()
        self._consumers: list[_Consumer] = []
        self._turn = 0
        self._in_flight: dict[int, tuple[_Consumer, Job]] = {}

    def add(self, payload: str) -> None:
        self._waiting.append(Job(payload))

    def add_job(self, job: Job) -> None:
        self._waiting.append(job)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return len(self._in_flight)

    def take_waiting(self) -> list[Job]:
        """Remove and return every waiting job (jobs in flight stay with their consumers)."""
        taken = list(self._waiting)
        self._waiting.clear()
        return taken

    def add_consumer(self, process: str, consumer: int, max_parallel: int) -> None:
        self._consumers.append(_Consumer(process, consumer, max_parallel))

    def remove_consumer(self, process: str, consumer: int) -> None:
        """Stop giving jobs to ``consumer``; its jobs in flight can still be acked."""
        self._consumers = [c for c in self._consumers
                           if (c.process, c.consumer) != (process, consumer)]

    def finish(self, process: str, job_id: int) -> None:
        self.take(process, job_id)

    def retry(self, process: str, job_id: int) -> None:
        job = self.take(process, job_id)
        if job is not None:
            self._waiting.append(job)

    def take(self, process: str, job_id: int) -> Job | None:
        """The job ``process`` holds, out of flight (None when it holds no such job)."""
        owner = self._in_flight.get(job_id)
        if owner is None or owner[0].process != process:
            return None
        del self._in_flight[job_id]
        owner[0].in_flight -= 1
        return owner[1]

    def drop_process(self, process: str) -> None:
        """``process`` died: forget its consumers and put its jobs in flight back in front."""
        self._consumers = [c for c in self._consumers if c.process != process]
        orphans = [job_id for job_id, (owner, _) in self._in_flight.items()
                   if owner.process == process]
        for job_id in reversed(orphans):
            self._waiting.appendleft(self._in_flight.pop(job_id)[1])

    def assign(self) -> list[tuple[str, int, Job]]:
        """Hand waiting jobs to consumers with room, in turn; returns (process, consumer, job)."""
        assigned = []
        while self._waiting:
            consumer = self._next_with_room()
            if consumer is None:
                break
            job = self._waiting.popleft()
            job.attempt += 1
            consumer.in_flight += 1
            self._in_flight[job.id] = (consumer, job)
            assigned.append((consumer.process, consumer.consumer, job))
        return assigned

    def _next_with_room(self) -> _Consumer | None:
        count = len(self._consumers)
        for step in range(count):
            consumer = self._consumers[(self._turn + step) % count]
            if consumer.in_flight < consumer.max_parallel:
                self._turn = (self._turn + step + 1) % count
                return consumer
        return None
