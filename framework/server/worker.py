"""A worker process, from just after the fork to its exit code.

A reload's worker first imports the app again from disk (see reloader.py). It tells the
app's container what this process is (its ProcessInfo; its pipe to the master
as BrokerAdapter), runs a fresh event loop (FrameworkConfig.loop: uvloop by default), builds
its own services, serves HTTP on the socket it inherited, balanced with the other workers
through its seat in the master's AcceptTable (or on its own socket, with reuse_port), talks
to the master over its pipe (heartbeats, ready, stats, retire; broker frames to the pipe
adapter) and stops gracefully when told to, or quickly when the master dies.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import socket
import time
from multiprocessing.connection import Connection

import blinker
import psutil

from framework import events
from framework.broker import BrokerAdapter
from framework.broker.channel import Channel, FrameTooLarge
from framework.broker.pipe import PipeAdapter, attach_to_master
from framework.config import FrameworkConfig
from framework.http.transport.balance import Seat
from framework.jobs.service import JobService, start_jobs
from framework.metrics import Metrics
from framework.process import ProcessInfo, become_worker, process_info
from framework.server.abc import ServedApp
from framework.server.fork import die_with_parent, exit_child
from framework.server.loops import loop_factory
from framework.server.messages import (
    BROKER,
    CONTROL,
    Answered,
    AskMetrics,
    AskStats,
    BootFailed,
    Heartbeat,
    MetricsReport,
    Ready,
    Retire,
    Scraped,
    StatsReply,
    Stop,
    WorkerMessage,
    handle_control,
)
from framework.server.process_title import title_worker
from framework.server.reloader import AppSource, worker_config
from framework.server.serving import HttpServer
from framework.server.sockets import bind_socket
from framework.server.worker_metrics import REPORT_EVERY, MasterScrapes

__all__ = ["MASTER_DIED", "WORKER_BOOT_ERROR", "Worker", "run_worker"]

logger = logging.getLogger("framework.server")

WORKER_BOOT_ERROR = 3    # the exit code of a worker whose bootstrap raised
MASTER_DIED = signal.SIGUSR2
ORPHAN_DRAIN = 1.0       # when the master died: in-flight requests get this long
ORPHAN_EXIT_AFTER = 1.8  # ... and the process is gone this long after, blocked loop or not


def run_worker(app: ServedApp, config: FrameworkConfig, sock: socket.socket | None,
               conn: Connection, worker_id: int, master_pid: int,
               fresh: AppSource | None = None, seat: Seat | None = None) -> int:
    """The worker process's whole life; returns its exit code. With ``fresh``, it serves
    the app imported again from there rather than the master's copy; with ``seat``, it
    accepts from the shared ``sock`` in turn with the other workers."""
    try:
        app.override_in_process(ProcessInfo, become_worker(worker_id))
        title_worker(worker_id, app.name)
        worker = Worker(app, config, sock, conn, worker_id, master_pid, fresh, seat)
        with asyncio.Runner(loop_factory=loop_factory(config.loop)) as runner:
            return runner.run(worker.run())
    except BaseException:  # noqa: BLE001 - whatever happens, the child leaves with a code
        logger.exception("worker %d crashed", worker_id)
        return 1


class Worker:
    """Serves until told to stop; one reader loop for the master's pipe."""

    def __init__(self, app: ServedApp, config: FrameworkConfig, sock: socket.socket | None,
                 conn: Connection, worker_id: int, master_pid: int,
                 fresh: AppSource | None = None, seat: Seat | None = None) -> None:
        self.app = app
        self.config = config
        self.fresh = fresh
        self.sock = sock
        self.seat = seat
        self.conn = conn
        self.worker_id = worker_id
        self.master_pid = master_pid
        self.name = f"worker {worker_id} (pid {os.getpid()})"
        self.started = time.monotonic()
        self.process = psutil.Process()
        self.metrics: Metrics | None = None  # reported to the master unless metrics are off
        self.scrapes = MasterScrapes()
        self._next_report = 0.0
        self.server: HttpServer | None = None
        self.jobs: JobService | None = None  # the declared consumers and schedules
        self.channel: Channel | None = None
        self.broker: PipeAdapter | None = None
        self.retiring = False
        self.exiting = False
        self.orphan = False
        self.signals_received = 0
        self.recycle_after = self._recycle_after()
        self._stop: asyncio.Future[float]

    def _recycle_after(self) -> int:
        config = self.config
        return (config.max_requests + random.randint(0, max(config.max_requests_jitter, 0))
                if config.max_requests > 0 else 0)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self._stop = loop.create_future()
        self._install_signals(loop)
        self.channel = await Channel.open(self.conn, "master")
        tasks = [loop.create_task(self.read_master(), name="master pipe"),
                 loop.create_task(self.send_heartbeats(), name="heartbeats")]
        loaded = False
        try:
            self.load_fresh_app()
            loaded = True
            self.broker = self._attach_broker(self.channel)
            await self.boot()
        except Exception as error:
            logger.exception("%s failed to boot", self.name)
            await self._tell_master(BootFailed(k=CONTROL, op="boot_failed",
                                               error=f"{type(error).__name__}: {error}"))
            if loaded:  # never the master's copy of a reload's worker: it is not this one's
                await self.app.shutdown()
            return WORKER_BOOT_ERROR
        await self.shutdown(await self._stop)
        self.report_metrics()  # its last counts, kept by the master
        self.exiting = True
        for task in tasks:
            task.cancel()
        await self.channel.close()
        return 0

    def load_fresh_app(self) -> None:
        """A reload's worker: the app imported again from disk serves, with its own config
        but for the fields the master acts on (host, port, timeouts, broker...)."""
        if self.fresh is None:
            return
        app = self.fresh.load(type(self.app))
        self.config = worker_config(self.config, app.get(FrameworkConfig))
        app.override_in_process(FrameworkConfig, self.config)
        app.override_in_process(ProcessInfo, process_info())
        self.app = app
        self.recycle_after = self._recycle_after()

    async def boot(self) -> None:
        """Resources and bootstrap listeners, serve, the `_done` listeners, tell the master."""
        if self.config.metrics_path:
            self.metrics = self.app.get(Metrics)
        await self.app.startup()
        await self._dispatch(events.on_server_bootstrap, events.on_server_worker_bootstrap)
        self.server = HttpServer(self.app, self.config, self.scrape_server, self.first_answer)
        if self.sock is not None:
            await self.server.start(self.sock, self.seat)
        else:
            await self.server.start(self._bind_own())
        await self._dispatch(events.on_server_bootstrap_done,
                             events.on_server_worker_bootstrap_done)
        self.jobs = await start_jobs(self.app)
        await self._tell_master(Ready(k=CONTROL, op="ready"))

    def _bind_own(self) -> socket.socket:
        return bind_socket(self.config.host, self.config.port, reuse_port=True)

    async def shutdown(self, timeout: float) -> None:
        """Stop accepting, let in-flight requests finish within ``timeout``, run listeners."""
        logger.info("%s stopping", self.name)
        if self.server is not None:
            await self.server.stop_accepting()
            await self.server.drain(timeout)
        if self.jobs is not None:
            await self.jobs.stop()
        for token in (events.on_server_shutdown, events.on_server_worker_shutdown):
            try:
                await self.app.dispatch(token, events.ServerEvent(process_info()))
            except Exception:  # noqa: BLE001 - the rest of the shutdown still runs
                logger.exception("a %s listener failed in %s", token.name, self.name)
        await self.app.shutdown()

    def request_stop(self, timeout: float) -> None:
        if not self._stop.done():
            self._stop.set_result(timeout)

    async def _dispatch(self, *tokens: blinker.NamedSignal) -> None:
        for token in tokens:
            await self.app.dispatch(token, events.ServerEvent(process_info()))

    # Signals and the master's death.

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._handle_stop_signal)
        # The master's death must end this process even when its loop is blocked: the
        # plain handler below arms a timer whose SIGALRM (default action) terminates it.
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.signal(MASTER_DIED, lambda *_: self._master_died(loop))
        die_with_parent(MASTER_DIED, self.master_pid)

    def _handle_stop_signal(self) -> None:
        self.signals_received += 1
        if self.signals_received > 1:
            logger.info("%s: second signal, exiting at once", self.name)
            exit_child(1)
        self.request_stop(self.config.graceful_shutdown_timeout)

    def _master_died(self, loop: asyncio.AbstractEventLoop) -> None:
        signal.setitimer(signal.ITIMER_REAL, ORPHAN_EXIT_AFTER)
        loop.call_soon_threadsafe(self.orphaned)

    def orphaned(self) -> None:
        """The master is gone: finish quickly, whatever graceful_shutdown_timeout says."""
        if self.exiting or self.orphan:
            return
        self.orphan = True
        if signal.getitimer(signal.ITIMER_REAL)[0] == 0:
            signal.setitimer(signal.ITIMER_REAL, ORPHAN_EXIT_AFTER)
        logger.warning("%s: the master is gone, stopping", self.name)
        self.request_stop(ORPHAN_DRAIN)

    # The master's pipe.

    def _attach_broker(self, channel: Channel) -> PipeAdapter | None:
        """This worker's BrokerAdapter is its pipe to the master's engine, unless Redis is used."""
        if self.config.broker_url:
            return None
        adapter = attach_to_master(channel, self.config)
        self.app.override_in_process(BrokerAdapter, adapter)
        return adapter

    async def read_master(self) -> None:
        assert self.channel is not None
        while (message := await self.channel.receive()) is not None:
            kind = message.get("k")
            if kind == CONTROL:
                handle_control(self, message, "master")
            elif kind == BROKER and self.broker is not None:
                self.broker.handle(message)
            else:
                logger.warning("%s dropped a frame of unknown kind %r", self.name, kind)
        if self.broker is not None:
            await self.broker.close()
        self.orphaned()

    def first_answer(self) -> None:
        """Its first answer is going out: the master learns it first (the frame is in the pipe
        before the answer is on its socket), so a death from now on is no crash loop."""
        if self.channel is not None and not self.channel.is_closing:
            self.channel.write(Answered(k=CONTROL, op="answered"))

    async def _tell_master(self, message: WorkerMessage) -> None:
        assert self.channel is not None
        try:
            await self.channel.send(message)
        except (ConnectionError, OSError):
            self.orphaned()

    async def send_heartbeats(self) -> None:
        """A heartbeat per tick (the master kills a worker silent for worker_timeout)."""
        timeout = self.config.worker_timeout
        tick = min(max(timeout / 4, 0.05), 1.0) if timeout > 0 else 1.0
        while True:
            await self._tell_master(Heartbeat(k=CONTROL, op="heartbeat"))
            self._ask_to_retire_when_due()
            if self.server is not None and time.monotonic() >= self._next_report:
                self._next_report = time.monotonic() + REPORT_EVERY
                self.report_metrics()
            await asyncio.sleep(tick)

    def _ask_to_retire_when_due(self) -> None:
        if self.retiring or self.server is None or self._stop.done():
            return
        reason = None
        if self.recycle_after and self.server.requests_served >= self.recycle_after:
            reason = f"max_requests ({self.server.requests_served} served)"
        elif (self.config.max_memory_mb > 0
              and self.rss() > self.config.max_memory_mb * 1024 * 1024):
            reason = f"max_memory_mb ({self.rss() // (1024 * 1024)} MiB resident)"
        if reason is not None and self.channel is not None:
            self.retiring = True
            self.channel.write(Retire(k=CONTROL, op="retire", reason=reason))

    # Control messages from the master.

    def on_stop(self, message: Stop) -> None:
        self.request_stop(float(message["timeout"]))

    def on_metrics(self, message: AskMetrics) -> None:
        self.report_metrics(int(message["id"]))

    def on_scraped(self, message: Scraped) -> None:
        self.scrapes.answered(message)

    def report_metrics(self, request_id: int | None = None) -> None:
        """This worker's snapshot to the master: asked for (``request_id``) or not. Asked
        before it boots, an empty one: the master need not wait for it."""
        if self.channel is None or self.channel.is_closing or (
                self.metrics is None and request_id is None):
            return
        report = MetricsReport(k=CONTROL, op="metrics",
                               snapshot={} if self.metrics is None else self.metrics.snapshot())
        if request_id is not None:
            report["id"] = request_id
        try:
            self.channel.write(report)
        except FrameTooLarge as error:
            logger.error("%s: its metrics are too many to report: %s", self.name, error)

    async def scrape_server(self) -> bytes:
        """GET metrics_path: the whole server's figures, gathered by the master."""
        return await self.scrapes.ask(self.channel)

    def on_stats(self, message: AskStats) -> None:
        assert self.channel is not None
        self.channel.write(StatsReply(
            k=CONTROL, op="stats", id=int(message["id"]), rss=self.rss(),
            requests=self.server.requests_served if self.server is not None else 0,
            in_flight=self.server.in_flight if self.server is not None else 0,
            uptime=time.monotonic() - self.started))

    def rss(self) -> int:
        return int(self.process.memory_info().rss)
