"""``@jobs.consumer``, ``@jobs.every`` and ``@jobs.cron``: marks on listener-class methods that
the job service finds in each process (``declared_jobs``) and runs in a job scope."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from croniter import croniter

from framework.broker.codec import check_name

JOB_ATTRIBUTE = "__fw_job__"
F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True)
class Consumer:
    """The method takes the queue's messages (its first parameter after self)."""

    queue: str
    max_parallel: int
    max_attempts: int


@dataclass(frozen=True)
class Every:
    """The method runs once per tick, ticks every ``seconds`` counted from the epoch."""

    seconds: float

    def next_tick(self, after: float) -> float:
        return (after // self.seconds + 1) * self.seconds


@dataclass(frozen=True)
class Cron:
    """The method runs at the times of a cron expression, in server-local time."""

    expression: str

    def next_tick(self, after: float) -> float:
        return float(croniter(self.expression, after).get_next(float))


Schedule = Every | Cron
Mark = Consumer | Every | Cron


@dataclass(frozen=True)
class DeclaredJob:
    """One marked method: its listener class, its name (``Class.method``) and its mark."""

    listener: type
    attribute: str
    mark: Mark

    @property
    def name(self) -> str:
        return f"{self.listener.__qualname__}.{self.attribute}"


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be an int >= 1, got {value!r}")
    return value


def _marking(mark: Mark) -> Callable[[F], F]:
    def decorate(function: F) -> F:
        if hasattr(function, JOB_ATTRIBUTE):
            raise TypeError(f"{function.__qualname__} already has a jobs declaration")
        setattr(function, JOB_ATTRIBUTE, mark)
        return function
    return decorate


def consumer(queue: str, max_parallel: int = 1, max_attempts: int = 5) -> Callable[[F], F]:
    """Run the method for each message of ``queue`` in every worker, ``max_parallel`` at once;
    a message whose run raises is retried up to ``max_attempts`` times, then dead."""
    check_name(queue, "queue name")
    return _marking(Consumer(queue, _positive_int(max_parallel, "max_parallel"),
                             _positive_int(max_attempts, "max_attempts")))


def every(*, seconds: float = 0, minutes: float = 0, hours: float = 0) -> Callable[[F], F]:
    """Run the method once per interval in the whole server (ticks aligned to the epoch)."""
    for value in (seconds, minutes, hours):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"every() takes numbers >= 0, got {value!r}")
    interval = seconds + 60 * minutes + 3600 * hours
    if interval <= 0:
        raise ValueError("every() needs an interval > 0: seconds=, minutes= or hours=")
    return _marking(Every(float(interval)))


def cron(expression: str) -> Callable[[F], F]:
    """Run the method at the times of a cron expression (server-local time), once per tick."""
    if not isinstance(expression, str) or not croniter.is_valid(expression):
        raise ValueError(f"not a cron expression: {expression!r}")
    return _marking(Cron(expression))


def declared_jobs(listeners: list[type]) -> Iterator[DeclaredJob]:
    """The marked methods of these listener classes."""
    for listener in listeners:
        for attribute in dir(listener):
            mark = getattr(getattr(listener, attribute, None), JOB_ATTRIBUTE, None)
            if isinstance(mark, Consumer | Every | Cron):
                yield DeclaredJob(listener, attribute, mark)
