"""Rolling reload: every worker onto the app's code as it is on disk now, one at a time.

fw server:reload and SIGHUP start a generation (``Reloads.reload``); the arbiter then
replaces each slot's worker by one of the new generation, one slot at a time (a new worker
imports the app afresh, see reloader.py, and serves, then its old one drains). The first
new worker that cannot boot, or the timeout, stops the reload: the workers go back to the
generation before, those not replaced yet keep serving, and no new worker is tried again.
One reload at a time; a stopping server starts none.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from framework.server.master.slots import BOOTING, SERVING, Slot, WorkerProcess
from framework.server.reloader import AppSource

__all__ = ["RELOAD_TIMEOUT", "ReloadResult", "Reloads", "Rolling"]

logger = logging.getLogger("framework.server")

#: How long a reload by SIGHUP may take, like ``fw server:reload``'s default.
RELOAD_TIMEOUT = 60.0
#: How long a stopped reload waits to read the failed worker's last frames (its error).
LAST_WORDS_TIMEOUT = 1.0


@dataclass(frozen=True)
class ReloadResult:
    """How a reload ended: every new worker serves (ok), or the error that stopped it."""

    ok: bool
    error: str | None
    generation: int


@dataclass(eq=False)
class Rolling:
    """A reload under way: its new generation, the one before, and how it ended.

    ``ended`` is resolved once: with None when every slot serves ``generation``, else with
    an error and the new worker that did not boot, if one did not; ``boot_errors`` are the
    errors new workers sent (by pid), which may arrive after their exit was seen.
    """

    generation: int
    previous: int
    ended: asyncio.Future[tuple[str, WorkerProcess | None] | None]
    started: float = field(default_factory=time.monotonic)
    boot_errors: dict[int, str] = field(default_factory=dict)

    def succeed(self) -> None:
        if not self.ended.done():
            self.ended.set_result(None)

    def fail(self, error: str, worker: WorkerProcess | None) -> None:
        if not self.ended.done():
            self.ended.set_result((error, worker))


class Reloads:
    """The master's reloads: ``generation`` is what its workers should run (0: the master's
    own copy of the app), and ``rolling`` the reload under way.

    ``slots`` is the arbiter's dict of slots; ``kill_at_once`` SIGKILLs a worker; ``wakeup``
    makes the arbiter look at its workers again.
    """

    def __init__(self, source: AppSource | None, slots: Mapping[int, Slot],
                 kill_at_once: Callable[[WorkerProcess], None],
                 wakeup: Callable[[], None]) -> None:
        self.source = source                          # where a reload imports the app again
        self.generation = 0
        self.rolling: Rolling | None = None
        self._slots = slots
        self._kill_at_once = kill_at_once
        self._wakeup = wakeup
        self._pid = os.getpid()
        self._generations = itertools.count(1)
        self._lock = asyncio.Lock()
        self._closed = False
        self._signalled: set[asyncio.Task[ReloadResult]] = set()

    def fresh_source(self) -> AppSource | None:
        """Where a new worker imports the app from: None while the master's copy serves."""
        return self.source if self.generation > 0 else None

    def reload_in_background(self) -> None:
        """Reload within RELOAD_TIMEOUT, as SIGHUP asks; the outcome is logged."""
        task = asyncio.get_running_loop().create_task(self.reload(RELOAD_TIMEOUT))
        self._signalled.add(task)
        task.add_done_callback(self._signalled.discard)

    async def reload(self, timeout: float) -> ReloadResult:
        """Start a generation and wait until it serves everywhere, or it stops, or
        ``timeout``. An app that no module holds (built in ``python -c`` code) is not
        reloaded: it says why."""
        async with self._lock:
            if self._closed:
                return ReloadResult(False, "the server is stopping", self.generation)
            refusal = self.source.cannot_reload() if self.source is not None else None
            if refusal is not None:
                logger.error("master %d: %s", self._pid, refusal)
                return ReloadResult(False, refusal, self.generation)
            rolling = self.rolling = Rolling(next(self._generations), self.generation,
                                             asyncio.get_running_loop().create_future())
            self.generation = rolling.generation
            logger.info("master %d: reloading %s as generation %d", self._pid,
                        self.source.describe() if self.source else "(the master's copy: "
                        "started without fw's command line)", rolling.generation)
            self._wakeup()
            await asyncio.wait({rolling.ended}, timeout=timeout)
            self.stop(f"timed out after {timeout:g} s", None)  # unless it ended
            error = await self._error(rolling)
            self.rolling = None
        took = time.monotonic() - rolling.started
        if error is None:
            logger.info("master %d: reload done in %.2f s: every worker runs generation %d",
                        self._pid, took, rolling.generation)
            return ReloadResult(True, None, rolling.generation)
        logger.error("master %d: reload to generation %d failed after %.2f s: %s",
                     self._pid, rolling.generation, took, error)
        return ReloadResult(False, error, self.generation)

    def check_done(self) -> None:
        """End the reload under way once every slot's worker serves its generation."""
        rolling = self.rolling
        if rolling is not None and all(
                slot.successor is None and slot.current is not None
                and slot.current.generation == rolling.generation
                and slot.current.state == SERVING for slot in self._slots.values()):
            rolling.succeed()

    def boot_failed(self, pid: int, worker: WorkerProcess | None, error: str) -> None:
        """Worker ``pid`` (``worker``, while it is alive) says why it could not boot: a new
        worker's error stops the reload, and is the reload's error."""
        rolling = self.rolling
        if rolling is not None:
            rolling.boot_errors[pid] = error
            if worker is not None and worker.generation == rolling.generation:
                self.stop("", worker)

    def worker_exited(self, worker: WorkerProcess, how: str) -> None:
        """``worker`` exited (``how``: "exited (1)", ...): a new one that never served
        stops the reload."""
        rolling = self.rolling
        if rolling is not None and worker.generation == rolling.generation \
                and worker.state == BOOTING:
            self.stop(f"it {how} before serving", worker)

    def close(self) -> None:
        """The server is stopping: the reload under way stops, and no other starts."""
        self._closed = True
        self.stop("the server is stopping", None)

    def stop(self, error: str, worker: WorkerProcess | None) -> None:
        """Stop the reload under way (``worker`` did not boot): workers go back to the
        generation before, new workers still booting for it are killed."""
        rolling = self.rolling
        if rolling is None or rolling.ended.done():
            return
        self.generation = rolling.previous
        for slot in self._slots.values():
            successor = slot.successor
            if successor is not None and successor is not worker \
                    and successor.generation == rolling.generation:
                self._kill_at_once(successor)
        rolling.fail(error, worker)

    async def _error(self, rolling: Rolling) -> str | None:
        """Why ``rolling`` stopped (None when it did not), with the new worker's own error
        when it sent one: its pipe is read to the end first."""
        outcome = rolling.ended.result()
        if outcome is None:
            return None
        error, worker = outcome
        if worker is not None:
            await worker.pipe.wait_closed(LAST_WORDS_TIMEOUT)
            error = f"{worker} failed to boot: {rolling.boot_errors.get(worker.pid, error)}"
        replaced = sum(slot.current is not None and slot.current.generation == rolling.generation
                       for slot in self._slots.values())
        if replaced:
            error += (f" ({replaced} of {len(self._slots)} workers already run "
                      f"generation {rolling.generation})")
        return error
