"""One named queue's jobs and consumers: who gets the next job, and what returns on failure."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field

_job_ids = itertools.count(1)


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

    def add_consumer(self, process: str, consumer: int, max_parallel: int) -> None:
        self._consumers.append(_Consumer(process, consumer, max_parallel))

    def remove_consumer(self, process: str, consumer: int) -> None:
        """Stop giving jobs to ``consumer``; its jobs in flight can still be acked."""
        self._consumers = [c for c in self._consumers
                           if (c.process, c.consumer) != (process, consumer)]

    def finish(self, process: str, job_id: int) -> None:
        owner = self._in_flight.get(job_id)
        if owner is not None and owner[0].process == process:
            del self._in_flight[job_id]
            owner[0].in_flight -= 1

    def retry(self, process: str, job_id: int) -> None:
        owner = self._in_flight.get(job_id)
        if owner is not None and owner[0].process == process:
            del self._in_flight[job_id]
            owner[0].in_flight -= 1
            self._waiting.append(owner[1])

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
