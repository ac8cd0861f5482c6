"""The jobs of one process: its declared consumers and, for schedules, the ``fw.schedule``
consumer and a bid for the scheduler lease. Started after worker bootstrap, stopped at drain."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Hashable
from typing import Protocol

from framework.broker import BrokerKeyValue, BrokerLock, BrokerQueue, QueueConsumer
from framework.di.autowire import Dependency, dependencies_of
from framework.di.errors import MissingDependency
from framework.di.provider import token_name
from framework.di.resolver import Resolver
from framework.jobs.declarations import Consumer, DeclaredJob, Schedule, declared_jobs
from framework.jobs.metrics import JobMetrics, JobRun
from framework.jobs.scheduler import SCHEDULE_QUEUE, Scheduler
from framework.metrics import Metrics
from framework.module import ModuleTree

#: how often a failed scheduled run is tried before it is dead on ``fw.schedule.dead``
SCHEDULE_MAX_ATTEMPTS = 3


class JobsApp(Resolver, Protocol):
    """What the jobs use of an App: resolving, job scopes, and the modules' listener classes."""

    @property
    def module_tree(self) -> ModuleTree: ...


class ScopedCall:
    """Calls a declared method in a job scope: its listener and the parameters after the
    message resolved there, so request-scoped providers give one instance per job."""

    def __init__(self, app: JobsApp, job: DeclaredJob) -> None:
        self._app, self._job = app, job
        function = getattr(job.listener, job.attribute)
        names = list(inspect.signature(function).parameters)
        self._takes_message = isinstance(job.mark, Consumer)
        if len(names) < (2 if self._takes_message else 1):
            raise TypeError(f"{job.name} must be a method"
                            f"{' taking the message' if self._takes_message else ''}")
        skip = frozenset(names[:2] if self._takes_message else names[:1])
        self._dependencies = dependencies_of(function, skip=skip)
        for dependency in self._dependencies:
            if not dependency.optional and not self._declared(dependency.token):
                raise MissingDependency(
                    f"{job.name} -> {token_name(dependency.token)}: no provider for "
                    f"{token_name(dependency.token)} (declared in a module of this App?)")

    def _declared(self, token: Hashable) -> bool:
        tree = self._app.module_tree
        return token in tree.configs or tree.find(token) is not None

    def _resolve(self, dependency: Dependency) -> object:
        if dependency.optional and not self._declared(dependency.token):
            return None
        return self._app.get(dependency.token)

    async def __call__(self, *message: object) -> None:
        async with self._app.request_scope():
            method = getattr(self._app.get(self._job.listener), self._job.attribute)
            values = {dependency.name: self._resolve(dependency)
                      for dependency in self._dependencies}
            result = method(*message[:1], **values) if self._takes_message else method(**values)
            if inspect.isawaitable(result):
                await result


class JobService:
    """This process's consumers and scheduler; ``start`` after bootstrap, ``stop`` at drain."""

    def __init__(self, app: JobsApp, declared: list[DeclaredJob]) -> None:
        self._app = app
        self._declared = declared
        self._consumers: list[QueueConsumer] = []
        self._scheduler: asyncio.Task[None] | None = None
        self._metrics = JobMetrics(app.get(Metrics)) if app.module_tree.find(Metrics) else None

    async def start(self) -> None:
        queue: BrokerQueue = self._app.get(BrokerQueue)
        schedules: dict[str, Schedule] = {}
        runs: dict[str, ScopedCall] = {}
        for job in self._declared:
            call = ScopedCall(self._app, job)
            if isinstance(job.mark, Consumer):
                self._consumers.append(await queue.consume(
                    job.mark.queue, self._counted(job.mark.queue, call),
                    max_parallel=job.mark.max_parallel, max_attempts=job.mark.max_attempts))
            else:
                schedules[job.name], runs[job.name] = job.mark, call
        if schedules:
            async def run_schedule(message: object) -> None:
                name = message.get("schedule") if isinstance(message, dict) else None
                run = runs.get(name) if isinstance(name, str) else None
                if run is None:  # a server sharing the broker runs other code
                    raise LookupError(f"{SCHEDULE_QUEUE}: no schedule {name!r} here")
                await run()
            self._consumers.append(await queue.consume(
                SCHEDULE_QUEUE, self._counted(SCHEDULE_QUEUE, run_schedule),
                max_parallel=len(schedules), max_attempts=SCHEDULE_MAX_ATTEMPTS))
            scheduler = Scheduler(schedules, self._app.get(BrokerLock),
                                  self._app.get(BrokerKeyValue), queue, self._lease_held)
            self._scheduler = asyncio.create_task(scheduler.run(), name="fw scheduler")

    async def stop(self) -> None:
        """Give up the lease, take no more jobs, and wait for the running ones."""
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
        for consumer in self._consumers:
            await consumer.stop()
        self._consumers.clear()

    def _counted(self, queue: str, run: JobRun) -> JobRun:
        """``run`` counting each job's outcome (processed, failed, retried, dead) in
        fw_jobs_*_total when the app has Metrics."""
        return run if self._metrics is None else self._metrics.counted(queue, run)

    def _lease_held(self, held: bool) -> None:
        if self._metrics is not None:
            self._metrics.lease_held(held)


async def start_jobs(app: JobsApp) -> JobService | None:
    """Start the jobs ``app``'s listener classes declare (None when there are none)."""
    listeners = [listener for scope in app.module_tree.scopes
                 for listener in scope.module.listeners if isinstance(listener, type)]
    declared = list(declared_jobs(listeners))
    if not declared:
        return None
    service = JobService(app, declared)
    await service.start()
    return service
