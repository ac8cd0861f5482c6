"""The master process: it binds, forks N workers, keeps them serving, and stops them.

One class, the Arbiter, owns supervision, after gunicorn's. Signal handlers only put the
signal on a queue; the supervision loop takes them in order (``handle_<name>``), then
reaps dead workers, murders silent ones, and tops the worker count up (``manage_workers``).
Every way out is a ``HaltServer`` with a reason and an exit status.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import multiprocessing
import os
import selectors
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

import blinker

from framework import events
from framework.broker import BrokerAdapter, BrokerHost
from framework.config import FrameworkConfig
from framework.errors import FrameworkError
from framework.metrics import Metrics
from framework.process import process_info
from framework.server.abc import ServedApp
from framework.server.control.listener import ControlServer, ControlSocketError, control_socket_path
from framework.server.control.status import server_status
from framework.server.fork import exit_child, fork_worker
from framework.server.master.metrics import ServerMetrics
from framework.server.master.notices import WorkerNotices
from framework.server.master.slots import (
    BOOTING,
    SERVING,
    STOPPING,
    Slot,
    WorkerProcess,
    worker_name,
)
from framework.server.master.supervisor import Supervisor
from framework.server.master.worker_pipe import WorkerPipe
from framework.server.messages import control
from framework.server.pid_file import PidFile, PidFileError
from framework.server.process_title import title_master
from framework.server.reloader import (
    RELOAD_TIMEOUT,
    AppSource,
    ReloadResult,
    Rolling,
    server_identity,
)
from framework.server.sockets import socket_url
from framework.server.worker import WORKER_BOOT_ERROR, run_worker

logger = logging.getLogger("framework.server")

WAKEUP = 0              # a queue entry that is not a signal: something changed, look again
TICK = 1.0              # the longest the loop sleeps without looking at its workers
STATS_TIMEOUT = 1.0     # how long a status waits for a worker's own figures
KILL_GRACE = 0.5        # after graceful_shutdown_timeout, a stopping worker gets this long
FORCED_EXIT = 1         # the exit status when a second SIGTERM/SIGINT cut the stop short
SIGNAL_NAMES: dict[int, str] = {signal.SIGTERM: "term", signal.SIGINT: "int", signal.SIGHUP: "hup",
                signal.SIGTTIN: "ttin", signal.SIGTTOU: "ttou", signal.SIGCHLD: "chld"}


class HaltServer(FrameworkError):
    """Stops the master: why, with which exit status, and whether workers may drain first."""

    def __init__(self, reason: str, exit_status: int = 0, graceful: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exit_status = exit_status
        self.graceful = graceful


def master_loop_factory(
        selector: selectors.BaseSelector) -> Callable[[], asyncio.AbstractEventLoop]:
    """The master's loop: asyncio's selector loop on ``selector``, which survives a fork (the
    Arbiter closes the child's copies of its descriptors)."""
    return lambda: asyncio.SelectorEventLoop(selector)


class Arbiter:
    """Keeps ``num_workers`` workers serving; a worker's slot (its worker_id) outlives it."""

    def __init__(self, app: ServedApp, config: FrameworkConfig, sock: socket.socket,
                 pid_file: str | None, selector: selectors.DefaultSelector,
                 source: AppSource | None = None) -> None:
        self.app = app
        self.source = source                          # where a reload imports the app again
        self.config = config
        self.sock: socket.socket | None = sock
        self.pid_file = PidFile(pid_file) if pid_file else None
        self.selector = selector                      # the master loop's
        self.pid = os.getpid()
        self.num_workers = config.worker_count()
        self.slots: dict[int, Slot] = {}
        self.workers: dict[int, WorkerProcess] = {}   # every live worker process, by pid
        self.generation = 0                           # what workers run; a reload starts one
        self._generations = itertools.count(1)
        self.rolling: Rolling | None = None           # the reload under way
        self._reload_lock = asyncio.Lock()
        self._reloads: set[asyncio.Task[ReloadResult]] = set()
        self.bootstrapped = False
        self.announced = False
        self.stopping = False
        self.broker_host: BrokerHost | None = None
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self.notices = WorkerNotices(app)
        self.started = time.monotonic()
        self.address = ""
        self.control: ControlServer | None = None
        self.stop_requested: HaltServer | None = None  # by an operator (fw server:stop)
        self.metrics: ServerMetrics | None = None     # the workers' figures, summed

    async def run(self) -> int:
        try:
            await self.start()
            self.manage_workers()
            while True:
                for signum in await self.wait_for_signals(self.next_timeout()):
                    self.handle_signal(signum)
                if self.stop_requested is not None:
                    raise self.stop_requested
                self.reap_workers()
                self.murder_workers()
                self.manage_workers()
                self.check_reload()
                await self.announce_serving()
        except HaltServer as halt:
            return await self.halt(halt)
        except Exception as error:
            logger.exception("master %d: unexpected error", self.pid)
            return await self.halt(HaltServer(f"{type(error).__name__}: {error}", 1, False))

    # Start-up.

    async def start(self) -> None:
        title_master(self.app.name)
        if self.pid_file is not None:
            try:
                self.pid_file.create()
            except PidFileError as error:
                raise HaltServer(str(error), 2) from None
        loop = asyncio.get_running_loop()
        for signum in SIGNAL_NAMES:
            loop.add_signal_handler(signum, self.signal, signum)
        self.notices.start()
        self.app.override_in_process(Supervisor, Supervisor(self.workers))
        # always: a reload may turn a worker's metrics_path on
        self.metrics = ServerMetrics(self.app.get(Metrics), self.workers)
        sock = self.sock
        assert sock is not None  # until now, the one run_master was given
        self.address = address = socket_url(sock)
        port = sock.getsockname()[1]
        if self.config.reuse_port:
            # Each worker binds its own SO_REUSEPORT socket; the master's was bound without
            # listening, only to check the port (and choose it, for port 0).
            self.config = dataclasses.replace(self.config, port=sock.getsockname()[1])
            sock.close()
            self.sock = None
        self.broker_host = self.serve_broker()
        await self.open_control_socket(port)
        logger.info("master %d: serving %s on %s with %d workers",
                    self.pid, self.app.name, address, self.num_workers)
        await self._dispatch_bootstrap(events.on_server_bootstrap, events.on_server_main_bootstrap)
        self.bootstrapped = True

    def serve_broker(self) -> BrokerHost | None:
        """The engine of the master's own memory broker, served to workers over their pipes,
        so master-side code and workers share one broker (None with Redis)."""
        if self.config.broker_url:
            return None
        return BrokerHost.serving(self.app.get(BrokerAdapter), self.config)

    async def open_control_socket(self, port: int) -> None:
        """Answer operators (fw server:status, reload, scale, stop) and CLI broker clients."""
        control = ControlServer(self, control_socket_path(self.config, self.app.name, port),
                                server_identity(self.app, self.source))
        try:
            await control.open()
        except ControlSocketError as error:
            raise HaltServer(str(error), 2) from None
        self.control = control

    async def announce_serving(self) -> None:
        """Once every first worker serves: the `_done` events of the master, once."""
        if self.announced or not self.slots or not all(
                slot.current is not None and slot.current.state == SERVING
                for slot in self.slots.values()):
            return
        self.announced = True
        logger.info("master %d: all %d workers serving", self.pid, len(self.slots))
        await self._dispatch_bootstrap(events.on_server_bootstrap_done,
                                       events.on_server_main_bootstrap_done)

    async def _dispatch_bootstrap(self, *tokens: blinker.NamedSignal) -> None:
        for token in tokens:
            try:
                await self.app.dispatch(token, events.ServerEvent(process_info()))
            except Exception as error:
                logger.exception("a %s listener failed in the master", token.name)
                raise HaltServer(f"{token.name} listener raised "
                                 f"{type(error).__name__}: {error}", 1) from error

    # Signals: handlers only enqueue; the loop handles them in order.

    def signal(self, signum: int) -> None:
        self._queue.put_nowait(signum)

    def wakeup(self) -> None:
        self._queue.put_nowait(WAKEUP)

    async def wait_for_signals(self, timeout: float) -> list[int]:
        try:
            first = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return []
        queued = [first]
        while not self._queue.empty():
            queued.append(self._queue.get_nowait())
        return [signum for signum in queued if signum != WAKEUP]

    def handle_signal(self, signum: int) -> None:
        name = SIGNAL_NAMES[signum]
        if signum != signal.SIGCHLD:
            logger.info("master %d: handling SIG%s", self.pid, name.upper())
        getattr(self, f"handle_{name}")()

    def handle_chld(self) -> None:
        self.reap_workers()

    def handle_term(self) -> None:
        raise HaltServer("SIGTERM: stopping gracefully")

    def handle_int(self) -> None:
        raise HaltServer("SIGINT: stopping gracefully")

    def handle_hup(self) -> None:
        """Reload, as fw server:reload does; the outcome is logged."""
        task = asyncio.get_running_loop().create_task(self.reload(RELOAD_TIMEOUT))
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    def handle_ttin(self) -> None:
        self.num_workers += 1
        logger.info("master %d: %d workers wanted", self.pid, self.num_workers)

    def handle_ttou(self) -> None:
        if self.num_workers <= 1:
            logger.info("master %d: SIGTTOU ignored: one worker stays", self.pid)
            return
        self.num_workers -= 1
        logger.info("master %d: %d workers wanted", self.pid, self.num_workers)

    def next_timeout(self) -> float:
        now = time.monotonic()
        timeout = TICK
        if self.config.worker_timeout > 0:
            timeout = min(timeout, self.config.worker_timeout / 4)
        for slot in self.slots.values():
            if slot.current is None:
                timeout = min(timeout, slot.spawn_after - now)
        for worker in self.workers.values():
            if worker.stop_deadline is not None:
                timeout = min(timeout, worker.stop_deadline - now)
        return max(timeout, 0.01)

    # What the workers say over their pipes (see WorkerPipe).

    def worker_ready(self, pid: int) -> None:
        self.worker_heard_from(pid)
        worker = self.workers.get(pid)
        if worker is None or worker.state != BOOTING:
            return
        worker.state = SERVING
        logger.info("%s serving", worker)
        slot = self.slots.get(worker.worker_id)
        if slot is not None:
            slot.record_serving()
        self.notices.notify(events.on_worker_online,
                            events.WorkerEvent(worker.worker_id, worker.pid))
        self.wakeup()

    def worker_heard_from(self, pid: int) -> None:
        worker = self.workers.get(pid)
        if worker is not None:
            worker.last_seen = time.monotonic()

    def worker_answered(self, pid: int) -> None:
        """It answered its first request: should it die now, it is replaced at once. The
        worker says so before the answer goes out, so a client that saw the answer (and
        kills the worker) finds the master told already."""
        worker = self.workers.get(pid)
        if worker is not None:
            worker.answered = True

    def worker_retiring(self, pid: int, reason: str) -> None:
        worker = self.workers.get(pid)
        if worker is not None and worker.retire_reason is None:
            logger.info("%s asks to be replaced: %s", worker, reason)
            worker.retire_reason = reason
            self.wakeup()

    def worker_boot_failed(self, pid: int, error: str) -> None:
        worker = self.workers.get(pid)
        if worker is not None:
            worker.boot_error = error
        if self.rolling is not None:
            self.rolling.boot_errors[pid] = error
            if worker is not None and worker.generation == self.rolling.generation:
                self.stop_reload("", worker)

    def worker_closed_pipe(self, pid: int) -> None:
        self.wakeup()

    # Supervision.

    def spawn_worker(self, slot: Slot) -> WorkerProcess | None:
        """Fork a worker for ``slot`` (None when the system refuses); the child never returns."""
        master_end, worker_end = multiprocessing.Pipe(duplex=True)
        # The master's own descriptors, closed in the child: what its loop watches (its
        # self-pipe, the open pipes to workers, connections of master-side listeners) and
        # the pipes to workers whose channel is not open yet.
        watched = [key.fd for key in self.selector.get_map().values()]
        siblings = [w.pipe.fd for w in self.workers.values() if w.pipe.fd is not None]
        try:
            pid = fork_worker([self.selector.fileno(), *watched, master_end.fileno(),
                               *siblings])
        except OSError as error:
            logger.error("cannot fork worker %d: %s", slot.worker_id, error)
            master_end.close()
            worker_end.close()
            slot.back_off(time.monotonic())
            return None
        if pid == 0:
            fresh = self.source if self.generation > 0 else None  # a reload's code
            exit_child(run_worker(self.app, self.config, self.sock, worker_end,
                                  slot.worker_id, self.pid, fresh))
        worker_end.close()
        pipe = WorkerPipe(master_end, pid, worker_name(slot.worker_id, pid), self,
                          self.broker_host, None if self.metrics is None
                          else self.metrics.of_worker(pid, slot.worker_id))
        worker = WorkerProcess(slot.worker_id, pid, self.generation, pipe, slot.restarts)
        self.workers[pid] = worker
        pipe.start()
        logger.info("%s booting", worker)
        return worker

    def manage_workers(self) -> None:
        """Fill every slot, replace workers due for it (one at a time), retire extra slots."""
        if self.stopping:
            return
        for worker_id in range(1, self.num_workers + 1):
            self.slots.setdefault(worker_id, Slot(worker_id))
        for worker_id in [i for i in self.slots if i > self.num_workers]:
            self.retire_slot(self.slots.pop(worker_id))
        now = time.monotonic()
        for slot in self.slots.values():
            if slot.current is None:
                if now >= slot.spawn_after:
                    slot.current = self.spawn_worker(slot)
            elif slot.successor is not None:
                if slot.successor.state == SERVING:
                    self.kill_worker(slot.current, graceful=True)
                    slot.current, slot.successor = slot.successor, None
            elif self._due_for_replacement(slot.current) and now >= slot.spawn_after \
                    and not any(other.successor for other in self.slots.values()):
                slot.successor = self.spawn_worker(slot)

    def _due_for_replacement(self, worker: WorkerProcess) -> bool:
        return worker.state == SERVING and (
            worker.generation < self.generation or worker.retire_reason is not None)

    def retire_slot(self, slot: Slot) -> None:
        for worker in (slot.current, slot.successor):
            if worker is not None:
                self.kill_worker(worker, graceful=True)

    def kill_worker(self, worker: WorkerProcess, graceful: bool) -> None:
        """Ask ``worker`` to stop (drain, then exit) or, not graceful, SIGKILL it."""
        if not graceful:
            worker.state = STOPPING
            self._send_signal(worker, signal.SIGKILL)
            return
        if worker.state == STOPPING:
            return
        timeout = self.config.graceful_shutdown_timeout
        worker.state = STOPPING
        worker.stop_deadline = time.monotonic() + timeout + KILL_GRACE
        if not worker.pipe.send(control("stop", timeout=timeout)):
            self._send_signal(worker, signal.SIGTERM)

    def _send_signal(self, worker: WorkerProcess, signum: int) -> None:
        try:
            os.kill(worker.pid, signum)
        except ProcessLookupError:
            pass

    def murder_workers(self) -> None:
        """SIGKILL workers silent for worker_timeout, and stopping ones past their deadline."""
        now = time.monotonic()
        timeout = self.config.worker_timeout
        for worker in list(self.workers.values()):
            if worker.state == STOPPING:
                if worker.stop_deadline is not None and now >= worker.stop_deadline:
                    logger.warning("%s did not stop in time: killing it", worker)
                    worker.stop_deadline = None
                    self._send_signal(worker, signal.SIGKILL)
            elif timeout > 0 and now - worker.last_seen > timeout:
                logger.error("%s sent no heartbeat for %.1fs (worker_timeout): killing it",
                             worker, now - worker.last_seen)
                worker.last_seen = float("inf")
                self._send_signal(worker, signal.SIGKILL)

    def reap_workers(self) -> None:
        """Collect every exited worker (no zombies) and decide what replaces it."""
        for pid, worker in list(self.workers.items()):
            try:
                reaped, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                reaped, status = pid, 0
            if reaped:
                self.worker_exited(worker, status)

    def worker_exited(self, worker: WorkerProcess, status: int) -> None:
        """Log how ``worker`` ended and when its slot gets the next one (at once, or after a
        backoff: see slots.py); a slot that keeps failing to boot stops the master."""
        del self.workers[worker.pid]
        exit_code = os.waitstatus_to_exitcode(status)
        signum = -exit_code if exit_code < 0 else None
        code = exit_code if exit_code >= 0 else None
        how = f"was killed by {signal.Signals(signum).name}" if signum else f"exited ({code})"
        rolling = self.rolling
        if rolling is not None and worker.generation == rolling.generation \
                and worker.state == BOOTING:
            self.stop_reload(f"it {how} before serving", worker)
        slot = self.slots.get(worker.worker_id)
        restart = self._vacate(slot, worker) if slot is not None else None
        giving_up = slot is not None and slot.failing and not self.stopping
        will_restart = slot is not None and not self.stopping and not giving_up
        if worker.state == STOPPING:
            logger.info("%s %s", worker, how)
        else:
            logger.error("%s %s%s", worker, how,
                         f" {restart}" if restart is not None and will_restart else "")
        self.notices.notify(events.on_worker_exit, events.WorkerEvent(
            worker.worker_id, worker.pid, code, signum, will_restart))
        if giving_up and slot is not None:
            error = worker.boot_error or f"the worker {how}"
            raise HaltServer(f"worker {slot.worker_id} failed to boot {slot.boot_failures} "
                             f"times in a row: {error}", WORKER_BOOT_ERROR)

    def _vacate(self, slot: Slot, worker: WorkerProcess) -> str | None:
        """Take the dead ``worker`` out of ``slot``; when that is a restart, its case and
        timing (for the log), else None."""
        if worker not in (slot.current, slot.successor):
            return None
        # the successor of a reload that stopped: not a restart, no backoff
        abandoned = worker is slot.successor and worker.generation > self.generation
        if worker is slot.current:
            slot.current, slot.successor = slot.successor, None
        else:
            slot.successor = None
        if abandoned:
            return None
        if self.metrics is not None and not self.stopping:
            self.metrics.worker_restarted()
        return slot.record_exit(worker, time.monotonic())

    # Operators, over the control socket (see control/listener.py).

    async def status(self) -> dict[str, Any]:
        """The server and each live worker, with the figures each gives over its pipe."""
        stats = await Supervisor(self.workers).stats(STATS_TIMEOUT)
        return server_status(app=self.app.name, address=self.address,
                             uptime=time.monotonic() - self.started, generation=self.generation,
                             config=self.config, workers_wanted=self.num_workers,
                             workers=self.workers.values(), stats={s.pid: s for s in stats})

    def scale(self, workers: int) -> None:
        """Keep ``workers`` workers serving from now on (fw server:scale)."""
        self.num_workers = workers
        logger.info("master %d: %d workers wanted (fw server:scale)", self.pid, workers)
        self.wakeup()

    def request_stop(self, graceful: bool = True) -> float:
        """Stop as SIGTERM does (fw server:stop); not graceful: without draining. Returns
        how long the workers may take to drain."""
        how = "gracefully" if graceful else "at once"
        self.stop_requested = HaltServer(f"fw server:stop: stopping {how}", 0, graceful)
        self.wakeup()
        return self.config.graceful_shutdown_timeout if graceful else 0.0

    # Reloads: fw server:reload and SIGHUP.

    async def reload(self, timeout: float) -> ReloadResult:
        """Roll every worker onto the app's code as it is on disk now, one at a time: a new
        worker imports the app afresh (see reloader.py) and serves, then its old one drains.

        The first new worker that cannot boot, or ``timeout``, stops the reload: the workers
        not replaced yet keep serving, and no new worker is tried again. One at a time. An
        app that no module holds (built in ``python -c`` code) is not reloaded: it says why.
        """
        async with self._reload_lock:
            if self.stopping:
                return ReloadResult(False, "the server is stopping", self.generation)
            refusal = self.source.cannot_reload() if self.source is not None else None
            if refusal is not None:
                logger.error("master %d: %s", self.pid, refusal)
                return ReloadResult(False, refusal, self.generation)
            rolling = self.rolling = Rolling(next(self._generations), self.generation,
                                             asyncio.get_running_loop().create_future())
            self.generation = rolling.generation
            logger.info("master %d: reloading %s as generation %d", self.pid,
                        self.source.describe() if self.source else "(the master's copy: "
                        "started without fw's command line)", rolling.generation)
            self.wakeup()
            await asyncio.wait({rolling.ended}, timeout=timeout)
            self.stop_reload(f"timed out after {timeout:g} s", None)  # unless it ended
            error = await self._reload_error(rolling)
            self.rolling = None
        took = time.monotonic() - rolling.started
        if error is None:
            logger.info("master %d: reload done in %.2f s: every worker runs generation %d",
                        self.pid, took, rolling.generation)
            return ReloadResult(True, None, rolling.generation)
        logger.error("master %d: reload to generation %d failed after %.2f s: %s",
                     self.pid, rolling.generation, took, error)
        return ReloadResult(False, error, self.generation)

    def check_reload(self) -> None:
        """End the reload under way once every slot's worker serves its generation."""
        rolling = self.rolling
        if rolling is not None and all(
                slot.successor is None and slot.current is not None
                and slot.current.generation == rolling.generation
                and slot.current.state == SERVING for slot in self.slots.values()):
            rolling.succeed()

    def stop_reload(self, error: str, worker: WorkerProcess | None) -> None:
        """Stop the reload under way (``worker`` did not boot): workers go back to the
        generation before, new workers still booting for it are killed."""
        rolling = self.rolling
        if rolling is None or rolling.ended.done():
            return
        self.generation = rolling.previous
        for slot in self.slots.values():
            successor = slot.successor
            if successor is not None and successor is not worker \
                    and successor.generation == rolling.generation:
                self.kill_worker(successor, graceful=False)
        rolling.fail(error, worker)

    async def _reload_error(self, rolling: Rolling) -> str | None:
        """Why ``rolling`` stopped (None when it did not), with the new worker's own error
        when it sent one: its pipe is read to the end first."""
        outcome = rolling.ended.result()
        if outcome is None:
            return None
        error, worker = outcome
        if worker is not None:
            await worker.pipe.wait_closed(TICK)
            error = f"{worker} failed to boot: {rolling.boot_errors.get(worker.pid, error)}"
        replaced = sum(slot.current is not None and slot.current.generation == rolling.generation
                       for slot in self.slots.values())
        if replaced:
            error += (f" ({replaced} of {len(self.slots)} workers already run "
                      f"generation {rolling.generation})")
        return error

    # Stopping.

    async def halt(self, halt: HaltServer) -> int:
        (logger.info if halt.exit_status == 0 else logger.error)(
            "master %d: %s", self.pid, halt.reason)
        self.stop_reload("the server is stopping", None)
        exit_status = halt.exit_status
        if not await self.stop(halt.graceful) and exit_status == 0:
            exit_status = FORCED_EXIT
        await self.notices.flush()
        if self.bootstrapped:
            for token in (events.on_server_shutdown, events.on_server_main_shutdown):
                try:
                    await self.app.dispatch(token, events.ServerEvent(process_info()))
                except Exception:  # noqa: BLE001 - the rest of the shutdown still runs
                    logger.exception("a %s listener failed in the master", token.name)
        try:
            await self.app.shutdown()
        except Exception:  # noqa: BLE001 - the pid file is still removed
            logger.exception("tearing down the master's resources failed")
        if self.sock is not None:
            self.sock.close()
        if self.control is not None:
            await self.control.close()
        if self.pid_file is not None:
            self.pid_file.remove()
        logger.info("master %d: exit %d", self.pid, exit_status)
        return exit_status

    async def stop(self, graceful: bool = True) -> bool:
        """Stop every worker: drain up to graceful_shutdown_timeout, then SIGKILL; reap all.

        A second SIGTERM/SIGINT while draining stops at once; returns False then.
        """
        self.stopping = True
        forced = False
        for worker in list(self.workers.values()):
            self.kill_worker(worker, graceful)
        while self.workers:
            self.murder_workers()
            for signum in await self.wait_for_signals(self.next_timeout()):
                if signum in (signal.SIGTERM, signal.SIGINT) and graceful:
                    logger.info("master %d: second SIG%s: stopping at once",
                                self.pid, SIGNAL_NAMES[signum].upper())
                    graceful, forced = False, True
                    for worker in list(self.workers.values()):
                        self.kill_worker(worker, graceful=False)
            self.reap_workers()
        return not forced
