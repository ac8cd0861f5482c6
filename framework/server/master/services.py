"""The master's own part of the app, around the supervision of its workers.

Before the first fork: the pid file, then what workers and master-side code reach in the
master (Supervisor, the summed metrics, the broker host whose engine every worker's
BrokerAdapter reaches over its pipe), the control socket operators reach, and the master's
bootstrap listeners. Once every first worker serves: their `_done` tokens. After the last
worker: the queued worker notices, the shutdown listeners, the app's teardown, then the
control socket and the pid file go. A step that keeps the master from starting raises
HaltServer: exit 2 (pid file, control socket), or 1 (a bootstrap listener raised).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import blinker

from framework import events
from framework.broker import BrokerAdapter, BrokerHost
from framework.config import FrameworkConfig
from framework.metrics import Metrics
from framework.process import process_info
from framework.server.abc import Operated, ServedApp
from framework.server.control.identity import ServerIdentity
from framework.server.control.listener import ControlServer, ControlSocketError, control_socket_path
from framework.server.master.halt import HaltServer
from framework.server.master.metrics import ServerMetrics
from framework.server.master.notices import WorkerNotices
from framework.server.master.slots import WorkerProcess
from framework.server.master.supervisor import Supervisor
from framework.server.pid_file import PidFile, PidFileError

__all__ = ["MasterServices"]

logger = logging.getLogger("framework.server")


class MasterServices:
    """``app``'s services in the master; ``workers`` is the arbiter's dict of live workers."""

    def __init__(self, app: ServedApp, pid_file: str | None,
                 workers: Mapping[int, WorkerProcess]) -> None:
        self.app = app
        self.pid_file = PidFile(pid_file) if pid_file else None
        self.notices = WorkerNotices(app)             # on_worker_online, on_worker_exit
        self.metrics: ServerMetrics | None = None     # the workers' figures, summed
        self.broker_host: BrokerHost | None = None
        self.control: ControlServer | None = None
        self.bootstrapped = False
        self._workers = workers

    def create_pid_file(self) -> None:
        """Write the master's pid to --pid-file, unless another live server's is there."""
        if self.pid_file is None:
            return
        try:
            self.pid_file.create()
        except PidFileError as error:
            raise HaltServer(str(error), 2) from None

    def serve_workers(self, config: FrameworkConfig) -> None:
        """What master-side code and the workers reach in the master: Supervisor, the summed
        metrics, and the master's own memory broker (none with Redis), so that master-side
        code and workers share one broker."""
        self.notices.start()
        self.app.override_in_process(Supervisor, Supervisor(self._workers))
        # always: a reload may turn a worker's metrics_path on
        self.metrics = ServerMetrics(self.app.get(Metrics), self._workers)
        if not config.broker_url:
            self.broker_host = BrokerHost.serving(self.app.get(BrokerAdapter), config)

    async def open_control_socket(self, config: FrameworkConfig, port: int,
                                  operated: Operated, identity: ServerIdentity) -> None:
        """Answer operators (fw server:status, reload, scale, stop) and CLI broker clients."""
        control = ControlServer(operated, control_socket_path(config, self.app.name, port),
                                identity)
        try:
            await control.open()
        except ControlSocketError as error:
            raise HaltServer(str(error), 2) from None
        self.control = control

    async def bootstrap(self) -> None:
        """The master's on_server_bootstrap and on_server_main_bootstrap listeners."""
        await self._dispatch_bootstrap(events.on_server_bootstrap, events.on_server_main_bootstrap)
        self.bootstrapped = True

    async def bootstrap_done(self) -> None:
        """Their `_done` tokens, once every first worker serves."""
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

    async def shut_down(self) -> None:
        """After the last worker: the worker notices still queued, the shutdown listeners
        (once bootstrapped), the app's teardown. A failure is logged; the rest still runs."""
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

    async def close(self) -> None:
        """The control socket and the pid file go."""
        if self.control is not None:
            await self.control.close()
        if self.pid_file is not None:
            self.pid_file.remove()
