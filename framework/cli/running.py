"""Running a command on the app, and the app's module commands.

Every command run on an app fires on_app_execute before and on_app_shutdown after (even
after an error), all on one event loop. A module command gets its provider-typed parameters
injected; an async one run while the app's server runs on this machine uses that server's
broker (over its control socket).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import inspect
import os
from collections.abc import Callable
from typing import Any

import click

from framework.app import App
from framework.cli.discovery import source_of
from framework.cli.errors import APP_ERRORS, CliError
from framework.config import FrameworkConfig
from framework.di.errors import DependencyError
from framework.events import AppEvent, on_app_execute, on_app_shutdown
from framework.server.control.client import ServerBroker, attach_server_broker

__all__ = ["execute", "module_command"]


def execute(app: App, command: str, body: Callable[[], object],
            loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
            server_broker: bool = False) -> int:
    """Run ``body`` between on_app_execute and on_app_shutdown; the exit code it returns.

    All three share one event loop, from ``loop_factory`` (a coroutine ``body`` returns is
    awaited on it), so what a listener ties to its loop at on_app_execute still lives when
    the command runs. With ``server_broker``, the process's broker is the running server's
    when there is one (before anything resolves it).
    """
    pid = os.getpid()
    exit_code = 1
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            attached = runner.run(_attach_server_broker(app)) if server_broker else None
            try:
                runner.run(app.dispatch(on_app_execute, AppEvent(command)))
                result = body()
                if inspect.iscoroutine(result):
                    result = runner.run(result)
                exit_code = result if isinstance(result, int) else 0
            except SystemExit as stop:
                code = stop.code
                exit_code = 0 if code is None else code if isinstance(code, int) else 1
                raise
            except click.ClickException as error:
                exit_code = error.exit_code
                raise
            except APP_ERRORS:
                exit_code = 2
                raise
            finally:
                if os.getpid() == pid:  # not in a forked worker that returned here
                    runner.run(_finish(app, command, exit_code, attached))
    except APP_ERRORS as error:
        raise CliError(f"{type(error).__name__}: {error}") from None
    return exit_code


async def _finish(app: App, command: str, exit_code: int,
                  attached: ServerBroker | None = None) -> None:
    """on_app_shutdown, then the app's shutdown, then the server broker let go, each
    even when the one before fails."""
    try:
        await app.dispatch(on_app_shutdown, AppEvent(command, exit_code))
    finally:
        try:
            await app.shutdown()
        finally:
            if attached is not None:
                await attached.close()


async def _attach_server_broker(app: App) -> ServerBroker | None:
    """The running server's broker, when the app has FrameworkModule's and a server runs."""
    try:
        config = app.get(FrameworkConfig)
    except DependencyError:
        return None  # no FrameworkModule: no broker either
    return await attach_server_broker(app, source_of(click.get_current_context(silent=True),
                                                     app).identity(app.name), config)


def module_command(app: App, command: click.Command) -> click.Command:
    """A copy of a module's command that injects its provider-typed parameters.

    An async command runs on the command's one event loop, after the app's async resources
    start; execute shuts them down after on_app_shutdown. Its broker is the running server's
    when the app's server runs on this machine (a sync command has no loop to talk to it on).
    """
    injections = app.injections(command)
    callback = command.callback
    command_name = command.name
    if callback is None or command_name is None:
        raise CliError(f"module command {command!r} has no callback or no name")

    def run_sync(**params: Any) -> Any:
        with app.request_scope():
            values = {name: provider() for name, provider in injections.items()}
            return callback(**params, **values)

    async def run_async(**params: Any) -> Any:
        await app.startup()
        async with app.request_scope():
            values = {name: provider() for name, provider in injections.items()}
            return await callback(**params, **values)

    @functools.wraps(callback)
    def invoke(**params: Any) -> int:
        if inspect.iscoroutinefunction(callback):
            return execute(app, command_name, lambda: run_async(**params), server_broker=True)
        return execute(app, command_name, lambda: run_sync(**params))

    wrapped = copy.copy(command)
    wrapped.callback = invoke
    return wrapped
