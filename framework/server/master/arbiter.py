"""The master process: it binds, forks N workers, keeps them serving, and stops them.

One class, the Arbiter, owns supervision, after gunicorn's. Signal handlers only put the
signal on a queue; the supervision loop takes them in order (``handle_<name>``), then
reaps dead workers, murders silent ones, and tops the worker count up (``manage_workers``).
Every way out is a ``HaltServer`` with a reason and an exit status. Beside it, each in its
own object: the master's own services (services.py), what the workers say over their pipes
(reports.py), rolling reloads (rolling.py) and what operators may do (operator.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import os
import selectors
import signal
import socket
import time
from collections.abc import Callable

from framework import events
from framework.broker import BrokerHost
from framework.config import FrameworkConfig
from framework.server.abc import ServedApp
from framework.server.fork import exit_child, fork_worker
from framework.server.master.halt import HaltServer
from framework.server.master.operator import Operator
from framework.server.master.reports import WorkerReports
from framework.server.master.rolling import Reloads
from framework.server.master.seats import AcceptSeats
from framework.server.master.services import MasterServices
from framework.server.master.slots import SERVING, STOPPING, Slot, WorkerProcess, worker_name
from framework.server.master.worker_pipe import WorkerPipe
from framework.server.messages import CONTROL, Stop
from framework.server.process_title import title_master
from framework.server.reloader import AppSource, server_identity
from framework.server.sockets import socket_url
from framework.server.worker import WORKER_BOOT_ERROR, run_worker

__all__ = ["Arbiter", "master_loop_factory"]

logger = logging.getLogger("framework.server")

WAKEUP = 0              # a queue entry that is not a signal: something changed, look again
TICK = 1.0              # the longest the loop sleeps without looking at its workers
KILL_GRACE = 0.5        # after graceful_shutdown_timeout, a stopping worker gets this long
FORCED_EXIT = 1         # the exit status when a second SIGTERM/SIGINT cut the stop short
SIGNAL_NAMES: dict[int, str] = {signal.SIGTERM: "term", signal.SIGINT: "int", signal.SIGHUP: "hup",
                signal.SIGTTIN: "ttin", signal.SIGTTOU: "ttou", signal.SIGCHLD: "chld"}


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
        self.config = config
        self.sock: socket.socket | None = sock
        self.selector = selector                      # the master loop's
        self.pid = os.getpid()
        self.num_workers = config.worker_count()
        self.slots: dict[int, Slot] = {}
        self.workers: dict[int, WorkerProcess] = {}   # every live worker process, by pid
        self.services = MasterServices(app, pid_file, self.workers)
        self.reloads = Reloads(source, self.slots, self.kill_at_once, self.wakeup)
        self.reports = WorkerReports(self.workers, self.slots, self.services.notices,
                                     self.reloads, self.wakeup)  # what each worker's pipe says
        self.announced = False
        self.stopping = False
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self.started = time.monotonic()
        self.address = ""
        self.stop_requested: HaltServer | None = None  # by an operator (fw server:stop)
        # each worker's open connections, for balanced accepting on the shared socket
        self.seats = AcceptSeats(balanced=not config.reuse_port)

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
                self.reloads.check_done()
                await self.announce_serving()
        except HaltServer as halt:
            return await self.halt(halt)
        except Exception as error:
            logger.exception("master %d: unexpected error", self.pid)
            return await self.halt(HaltServer(f"{type(error).__name__}: {error}", 1, False))

    # Start-up.

    async def start(self) -> None:
        """Before the first fork: the pid file, the signals, the master's services, then its
        bootstrap listeners."""
        title_master(self.app.name)
        self.services.create_pid_file()
        loop = asyncio.get_running_loop()
        for signum in SIGNAL_NAMES:
            loop.add_signal_handler(signum, self.signal, signum)
        sock = self.sock
        assert sock is not None  # until now, the one run_master was given
        self.address = socket_url(sock)
        port = sock.getsockname()[1]
        if self.config.reuse_port:
            # Each worker binds its own SO_REUSEPORT socket; the master's was bound without
            # listening, only to check the port (and choose it, for port 0).
            self.config = dataclasses.replace(self.config, port=port)
            sock.close()
            self.sock = None
        self.services.serve_workers(self.config)
        await self.services.open_control_socket(self.config, port,
                                                Operator(self, self.workers, self.reloads),
                                                server_identity(self.app, self.reloads.source))
        logger.info("master %d: serving %s on %s with %d workers",
                    self.pid, self.app.name, self.address, self.num_workers)
        await self.services.bootstrap()

    @property
    def broker_host(self) -> BrokerHost | None:
        """The master's memory broker, which its workers reach over their pipes."""
        return self.services.broker_host

    async def announce_serving(self) -> None:
        """Once every first worker serves: the `_done` events of the master, once."""
        if self.announced or not self.slots or not all(
                slot.current is not None and slot.current.state == SERVING
                for slot in self.slots.values()):
            return
        self.announced = True
        logger.info("master %d: all %d workers serving", self.pid, len(self.slots))
        await self.services.bootstrap_done()

    # Signals: handlers only enqueue; the loop handles them in order.

    def signal(self, signum: int) -> None:
        self._queue.put_nowait(signum)

    def wakeup(self) -> None:
        """Look at the workers again now: something changed."""
        self._queue.put_nowait(WAKEUP)

    def request_halt(self, reason: str, graceful: bool) -> None:
        """Stop at the next turn of the loop, as SIGTERM does (fw server:stop)."""
        self.stop_requested = HaltServer(reason, 0, graceful)
        self.wakeup()

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
        self.reloads.reload_in_background()

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

    # Supervision.

    def spawn_worker(self, slot: Slot) -> WorkerProcess | None:
        """Fork a worker for ``slot`` (None when the system refuses); the child never returns."""
        master_end, worker_end = multiprocessing.Pipe(duplex=True)
        # The master's own descriptors, closed in the child: what its loop watches (its
        # self-pipe, the open pipes to workers, connections of master-side listeners) and
        # the pipes to workers whose channel is not open yet.
        watched = [key.fd for key in self.selector.get_map().values()]
        siblings = [w.pipe.fd for w in self.workers.values() if w.pipe.fd is not None]
        seat = self.seats.take(slot.worker_id)
        try:
            pid = fork_worker([self.selector.fileno(), *watched, master_end.fileno(),
                               *siblings])
        except OSError as error:
            logger.error("cannot fork worker %d: %s", slot.worker_id, error)
            master_end.close()
            worker_end.close()
            self.seats.give_back(seat)
            slot.back_off(time.monotonic())
            return None
        if pid == 0:
            exit_child(run_worker(self.app, self.config, self.sock, worker_end,
                                  slot.worker_id, self.pid, self.reloads.fresh_source(),
                                  seat))
        worker_end.close()
        metrics = self.services.metrics
        pipe = WorkerPipe(master_end, pid, worker_name(slot.worker_id, pid), self.reports,
                          self.broker_host,
                          None if metrics is None else metrics.of_worker(pid, slot.worker_id))
        worker = WorkerProcess(slot.worker_id, pid, self.reloads.generation, pipe,
                               slot.restarts, seat=seat)
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
            worker.generation < self.reloads.generation or worker.retire_reason is not None)

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
        if not worker.pipe.send(Stop(k=CONTROL, op="stop", timeout=timeout)):
            self._send_signal(worker, signal.SIGTERM)

    def kill_at_once(self, worker: WorkerProcess) -> None:
        self.kill_worker(worker, graceful=False)

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
        self.seats.give_back(worker.seat)
        exit_code = os.waitstatus_to_exitcode(status)
        signum = -exit_code if exit_code < 0 else None
        code = exit_code if exit_code >= 0 else None
        how = f"was killed by {signal.Signals(signum).name}" if signum else f"exited ({code})"
        self.reloads.worker_exited(worker, how)
        slot = self.slots.get(worker.worker_id)
        restart = None if slot is None else \
            slot.vacate(worker, self.reloads.generation, time.monotonic())
        if restart is not None and self.services.metrics is not None and not self.stopping:
            self.services.metrics.worker_restarted()
        giving_up = slot is not None and slot.failing and not self.stopping
        will_restart = slot is not None and not self.stopping and not giving_up
        if worker.state == STOPPING:
            logger.info("%s %s", worker, how)
        else:
            logger.error("%s %s%s", worker, how,
                         f" {restart}" if restart is not None and will_restart else "")
        self.services.notices.notify(events.on_worker_exit, events.WorkerEvent(
            worker.worker_id, worker.pid, code, signum, will_restart))
        if giving_up and slot is not None:
            error = worker.boot_error or f"the worker {how}"
            raise HaltServer(f"worker {slot.worker_id} failed to boot {slot.boot_failures} "
                             f"times in a row: {error}", WORKER_BOOT_ERROR)

    # Stopping.

    async def halt(self, halt: HaltServer) -> int:
        (logger.info if halt.exit_status == 0 else logger.error)(
            "master %d: %s", self.pid, halt.reason)
        self.reloads.close()
        exit_status = halt.exit_status
        if not await self.stop(halt.graceful) and exit_status == 0:
            exit_status = FORCED_EXIT
        await self.services.shut_down()
        if self.sock is not None:
            self.sock.close()
        await self.services.close()
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
