"""workers=0: one process bootstraps, serves and stops the whole app.

The one process plays the master and a worker, so code written for workers runs unchanged:
on_server_bootstrap, on_server_main_bootstrap, on_server_worker_bootstrap, then listen, then
their `_done` tokens in the same order. SIGTERM/SIGINT: stop accepting, drain up to
graceful_shutdown_timeout, then the shutdowns in reverse (worker, main, server), then the
app's teardown, exit 0. A second signal stops at once (exit 1). Signal handlers only queue
the signal; the serve loop acts. Operators reach it on its control socket too: status, stop,
and the CLI's broker connections (a reload or a scale needs workers).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from typing import NoReturn

import blinker

from framework import events
from framework.broker import BrokerAdapter, BrokerHost
from framework.config import FrameworkConfig
from framework.errors import FrameworkError
from framework.jobs.service import JobService, start_jobs
from framework.process import process_info
from framework.server.abc import ServedApp
from framework.server.control.frames import ServerFigures
from framework.server.control.listener import ControlServer, ControlSocketError, control_socket_path
from framework.server.control.status import server_status
from framework.server.reloader import AppSource, server_identity
from framework.server.serving import HttpServer
from framework.server.sockets import bind_socket, socket_url

logger = logging.getLogger("framework.server")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# The one process is the server, the master and a worker: each role's events, once.
BOOTSTRAP = (events.on_server_bootstrap, events.on_server_main_bootstrap,
             events.on_server_worker_bootstrap)
BOOTSTRAP_DONE = (events.on_server_bootstrap_done, events.on_server_main_bootstrap_done,
                  events.on_server_worker_bootstrap_done)
SHUTDOWN = (events.on_server_worker_shutdown, events.on_server_main_shutdown,
            events.on_server_shutdown)
FORCED_EXIT = 1


class StartupError(FrameworkError):
    """A bootstrap listener raised: the server did not start."""


class SingleProcessServer:
    """The whole app in this process: ``start(sock)`` / ``stop(timeout)``; ``serve`` does both."""

    def __init__(self, app: ServedApp, config: FrameworkConfig,
                 source: AppSource | None = None) -> None:
        self.app = app
        self.source = source  # where the app was found: the project it identifies as
        self.config = config
        self.http: HttpServer | None = None
        self.url = ""
        self.started = time.monotonic()
        self.broker_host: BrokerHost | None = None  # the CLI's broker connections use it
        self.jobs: JobService | None = None  # the declared consumers and schedules
        self._signals: asyncio.Queue[int] = asyncio.Queue()

    async def _fire(self, *tokens: blinker.NamedSignal) -> None:
        for token in tokens:
            await self.app.dispatch(token, events.ServerEvent(process_info()))

    async def start(self, sock: socket.socket) -> None:
        """Bootstrap listeners, listen on ``sock``, then the `_done` listeners."""
        try:
            await self.app.startup()
            await self._fire(*BOOTSTRAP)
            self.http = HttpServer(self.app, self.config)
            await self.http.start(sock)
            self.url = socket_url(sock)
            await self._fire(*BOOTSTRAP_DONE)
            self.jobs = await start_jobs(self.app)
        except Exception as error:
            if self.http is not None:
                await self.http.drain(0)
            await self.app.shutdown()
            raise StartupError(f"start-up failed: {type(error).__name__}: {error}") from error

    async def stop(self, timeout: float) -> bool:
        """Stop accepting, drain, shutdown listeners, teardown; False if a step failed."""
        ok = True
        if self.http is not None:
            await self.http.stop_accepting()
            await self.http.drain(timeout)
        if self.jobs is not None:
            await self.jobs.stop()
        for token in SHUTDOWN:
            try:
                await self._fire(token)
            except Exception:
                logger.exception("a %s listener failed", getattr(token, "name", token))
                ok = False
        try:
            await self.app.shutdown()
        except Exception:
            logger.exception("tearing down the app's resources failed")
            ok = False
        return ok

    async def serve(self) -> int:
        """Bind, serve until SIGTERM/SIGINT, stop; returns the exit code.

        The stop signals are queued from before the socket listens, so a signal sent as soon
        as the port answers is a graceful stop, never a kill. BindError propagates.
        """
        signals = self._signals
        loop = asyncio.get_running_loop()
        for stop_signal in STOP_SIGNALS:
            loop.add_signal_handler(stop_signal, signals.put_nowait, stop_signal)
        config = self.config
        sock = bind_socket(config.host, config.port, config.reuse_port)
        try:
            await self.start(sock)
        except StartupError as error:
            logger.error("%s", error, exc_info=error.__cause__)
            return 1
        control = await self._open_control_socket(sock.getsockname()[1])
        if control is None:
            await self.stop(0)
            return 2
        try:
            return await self._serve_until_stopped()
        finally:
            await control.close()

    async def _serve_until_stopped(self) -> int:
        signals = self._signals
        logger.info("fw: serving %s on %s (one process, pid %d); stop with Ctrl-C",
                    self.app.name, self.url, os.getpid())
        signum = await signals.get()
        timeout = self.config.graceful_shutdown_timeout
        logger.info("%s: stopping gracefully (requests in flight get up to %ss)",
                    signal.Signals(signum).name, timeout)
        stopping = asyncio.create_task(self.stop(timeout))
        second = asyncio.create_task(signals.get())
        await asyncio.wait({stopping, second}, return_when=asyncio.FIRST_COMPLETED)
        if not stopping.done():
            logger.warning("%s again: stopping at once", signal.Signals(second.result()).name)
            stopping.cancel()
            return FORCED_EXIT
        second.cancel()
        logger.info("stopped")
        return 0 if stopping.result() else 1

    # Operators, over the control socket (see control/listener.py).

    async def _open_control_socket(self, port: int) -> ControlServer | None:
        if not self.config.broker_url:
            self.broker_host = BrokerHost.serving(self.app.get(BrokerAdapter), self.config)
        control = ControlServer(self, control_socket_path(self.config, self.app.name, port),
                                server_identity(self.app, self.source))
        try:
            await control.open()
        except ControlSocketError as error:
            logger.error("%s", error)
            return None
        return control

    async def status(self) -> ServerFigures:
        """This process, which has no workers."""
        return server_status(app=self.app.name, address=self.url,
                             uptime=time.monotonic() - self.started, generation=0,
                             config=self.config, workers_wanted=0)

    async def reload(self, timeout: float) -> NoReturn:
        raise ValueError("the server runs in one process (workers=0), which cannot load new "
                         "code while it serves: restart it, or start it with workers >= 1")

    def scale(self, workers: int) -> None:
        raise ValueError("the server runs in one process (workers=0): start it with "
                         "--workers N to scale it")

    def request_stop(self, graceful: bool = True) -> float:
        """Stop as SIGTERM does (twice when not graceful); how long requests may drain."""
        logger.info("fw server:stop")
        for _ in range(1 if graceful else 2):
            self._signals.put_nowait(signal.SIGTERM)
        return self.config.graceful_shutdown_timeout if graceful else 0.0


async def serve_single(app: ServedApp, config: FrameworkConfig, pid_file: str | None = None,
                       source: AppSource | None = None) -> int:
    """Serve ``app`` from this one process on config's host:port; returns the exit code.

    Runs on the caller's loop: ``loop_factory()`` says which loop that should be.
    """
    from framework.server.pid_file import PidFile, PidFileError

    pid = PidFile(pid_file) if pid_file else None
    try:
        if pid is not None:
            pid.create()
    except PidFileError as error:
        print(f"fw: {error}", file=sys.stderr)
        return 2
    try:
        return await SingleProcessServer(app, config, source).serve()
    finally:
        if pid is not None:
            pid.remove()


