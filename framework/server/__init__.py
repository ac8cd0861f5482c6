"""The server: one process (workers=0) or a master supervising N forked workers.

``plan_server`` says which event loop the server needs and gives the coroutine that serves
on it, so the CLI runs on_app_execute, serving and on_app_shutdown on that one loop. A port
in use is one line and exit code 2.
"""

from __future__ import annotations

import asyncio
import selectors
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from framework.config import FrameworkConfig
from framework.http.transport.logs import configure_logging
from framework.server.abc import ServedApp
from framework.server.loops import loop_name
from framework.server.sockets import BindError, bind_socket

if TYPE_CHECKING:
    from framework.server.reloader import AppSource

__all__ = ["ServerPlan", "plan_server"]


@dataclass(frozen=True)
class ServerPlan:
    """``serve()`` run on a loop from ``loop_factory`` (None: asyncio's default loop)."""

    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None
    serve: Callable[[], Coroutine[Any, Any, int]]


def plan_server(app: ServedApp, *, pid_file: str | None = None,
                source: AppSource | None = None) -> ServerPlan:
    """How ``app`` serves as its FrameworkConfig says (command-line flags included), until
    stopped; ``serve()`` returns the process exit code. A reload's workers import the app
    again from ``source`` (without one, they run the master's copy)."""
    config: FrameworkConfig = app.get(FrameworkConfig)
    configure_logging(config)
    loop_name(config.loop)  # uvloop asked for and missing: a ConfigError before anything starts
    if config.worker_count() == 0:
        from framework.server.loops import loop_factory
        from framework.server.single import serve_single

        async def serve_one_process() -> int:
            try:  # binds once its signal handlers are set
                return await serve_single(app, config, pid_file, source)
            except BindError as error:
                return _cannot_listen(error)
        return ServerPlan(loop_factory(config.loop), serve_one_process)

    from framework.server.master.arbiter import Arbiter, master_loop_factory

    selector = selectors.DefaultSelector()

    async def serve_with_workers() -> int:
        try:
            sock = bind_socket(config.host, config.port, config.reuse_port,
                               listen=not config.reuse_port)
        except BindError as error:
            return _cannot_listen(error)
        return await Arbiter(app, config, sock, pid_file, selector, source).run()
    return ServerPlan(master_loop_factory(selector), serve_with_workers)


def _cannot_listen(error: BindError) -> int:
    print(f"fw: {error}", file=sys.stderr)
    return 2
