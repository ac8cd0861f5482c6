"""The scheduler lease: one process of all those sharing a broker holds it and enqueues each
due tick on ``fw.schedule``; the time of each schedule's last run is kept in the broker kv,
so a new holder runs ticks missed while nobody held the lease once, not once per tick."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping

from framework.broker import BrokerKeyValue, BrokerLock, BrokerQueue
from framework.broker.facades import HeldLock
from framework.jobs.declarations import Schedule
from framework.ratelimit import RateLimitedLog

#: the lock of the lease; the holder renews it every LEASE_TTL / 3 seconds
LEASE_NAME = "fw.scheduler"
LEASE_TTL = 10.0
SCHEDULE_QUEUE = "fw.schedule"
LAST_RUN_KEY = "fw.schedule.last:"

logger = logging.getLogger("framework.jobs")
warnings = RateLimitedLog(logger, 10.0)


class Scheduler:
    """Waits for the lease, then enqueues each schedule's ticks as jobs while holding it."""

    def __init__(self, schedules: Mapping[str, Schedule], locks: BrokerLock, kv: BrokerKeyValue,
                 queue: BrokerQueue, on_lease: Callable[[bool], None],
                 ttl: float = LEASE_TTL) -> None:
        self._schedules = schedules
        self._locks, self._kv, self._queue = locks, kv, queue
        self._on_lease = on_lease
        self._ttl = ttl

    async def run(self) -> None:
        """Until cancelled: take the lease when it is free, and schedule while holding it."""
        while True:
            lease = await self._locks.try_lock(LEASE_NAME, self._ttl)
            if lease is not None:
                self._on_lease(True)
                try:
                    lease = await self._hold(lease)
                except Exception as error:  # noqa: BLE001 - a broker outage: wait for the lease
                    warnings.warning("scheduler", "the scheduler lease was dropped: %s: %s",
                                     type(error).__name__, error)
                finally:
                    self._on_lease(False)
                    if lease is not None:
                        with contextlib.suppress(Exception):  # its ttl ends it anyway
                            await lease.release()
            await asyncio.sleep(self._ttl / 3)

    async def _hold(self, lease: HeldLock) -> HeldLock | None:
        """Enqueue due ticks and renew the lease; returns when the lease was lost (None)."""
        due = {name: await self._first_due(name, schedule)
               for name, schedule in self._schedules.items()}
        renew_at = time.monotonic() + self._ttl / 3
        while True:
            now = time.time()
            for name, at in due.items():
                if at <= now:
                    await self._enqueue(name, at, now)
                    due[name] = self._schedules[name].next_tick(now)
            if time.monotonic() >= renew_at:
                if not await lease.extend(self._ttl):
                    return None
                renew_at = time.monotonic() + self._ttl / 3
            wait = min(min(due.values()) - time.time(), renew_at - time.monotonic())
            await asyncio.sleep(max(wait, 0.0))

    async def _first_due(self, name: str, schedule: Schedule) -> float:
        last = await self._kv.get(LAST_RUN_KEY + name)
        if not isinstance(last, int | float):
            last = time.time()
            await self._kv.set(LAST_RUN_KEY + name, last)
        return schedule.next_tick(float(last))

    async def _enqueue(self, name: str, tick: float, now: float) -> None:
        await self._kv.set(LAST_RUN_KEY + name, now)
        await self._queue.produce(SCHEDULE_QUEUE, {"schedule": name, "tick": tick})
        logger.debug("schedule %s: tick %.3f enqueued", name, tick)
