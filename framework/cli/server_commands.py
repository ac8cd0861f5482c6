"""``server:start`` serves the app; ``server:status``, ``server:reload``, ``server:scale``
and ``server:stop`` operate the running server over its control socket.

The control commands read the app's config only to find the server (they fire no app
events); the queue commands find it the same way (control_options, control_socket) and
report its answers the same way (operate).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click

from framework.cli.debug import format_table
from framework.cli.discovery import APP_OPTION, app_of, project_without_app, source_of
from framework.cli.errors import CliError, OperationFailed
from framework.cli.running import execute
from framework.config import ConfigError, FrameworkConfig
from framework.server import plan_server
from framework.server.control import client as control_client
from framework.server.control.identity import ServerIdentity
from framework.server.control.listener import find_control_socket, project_sockets

__all__ = ["COMMANDS", "control_options", "control_socket", "operate", "status_lines"]


@click.command("server:start")
@APP_OPTION
@click.option("--host", help="Address to listen on (FrameworkConfig.host).")
@click.option("--port", type=int, help="Port to listen on (FrameworkConfig.port).")
@click.option("--workers", help="0 = one process; N = a master and N workers; auto = one per CPU.")
@click.option("--pid-file", type=click.Path(dir_okay=False),
              help="Write the master's pid to this file while it runs.")
@click.pass_context
def server_start(ctx: click.Context, app_spec: str | None, host: str | None, port: int | None,
                 workers: str | None, pid_file: str | None) -> None:
    """Serve the app: one process, or a master supervising workers."""
    app = app_of(ctx, app_spec)
    flags = {name: value for name, value in
             (("host", host), ("port", port), ("workers", workers)) if value is not None}
    try:
        app.configure("framework", **flags)
    except ConfigError as error:
        raise CliError(str(error)) from None
    try:  # the flags are in the app's config now
        server = plan_server(app, pid_file=pid_file, source=source_of(ctx, app))
    except ConfigError as error:
        raise CliError(str(error)) from None
    ctx.exit(execute(app, "server:start", server.serve, server.loop_factory))


def control_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """How a control command finds the server: the app's config (as server:start reads it,
    with --port), or --socket."""
    decorators: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        APP_OPTION,
        click.option("--port", type=int, help="The port the server listens on, when not "
                     "the configured one (FrameworkConfig.port)."),
        click.option("--socket", "socket_path", type=click.Path(dir_okay=False),
                     help="The server's control socket (default: from the app's config)."),
        click.pass_context]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def control_socket(ctx: click.Context, app_spec: str | None, port: int | None,
                   socket_path: str | None) -> tuple[Path, ServerIdentity | None]:
    """The control socket to talk to, and the identity its server must confirm: this
    project's app (none for a socket named with --socket)."""
    if socket_path:
        return Path(socket_path), None
    try:
        app = app_of(ctx, app_spec)
    except CliError as error:
        # The app cannot be imported (a reload is how its fix gets deployed): the server
        # of this project answering on --port is the one meant; without --port, say how.
        project = project_without_app(app_spec) if port is not None else None
        if project is not None:
            identity = ServerIdentity.of("", project)
            found = project_sockets(identity, port)
            if len(found) == 1:
                return found[0], identity
        raise CliError(f"{error.message} (to reach its running server anyway: --port or "
                       "--socket)") from None
    config: FrameworkConfig = app.get(FrameworkConfig)
    identity = source_of(ctx, app).identity(app.name)
    return find_control_socket(config, identity, port), identity


def operate(operation: Coroutine[Any, Any, Any]) -> Any:
    """The result of ``operation`` on the server; no server: exit 2; a failure: exit 1."""
    try:
        return asyncio.run(operation)
    except control_client.NoServer as error:
        raise CliError(str(error)) from None
    except (control_client.ControlError, ConnectionError) as error:
        raise OperationFailed(str(error) or type(error).__name__) from None


@click.command("server:status")
@control_options
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def server_status(ctx: click.Context, app_spec: str | None, port: int | None,
                  socket_path: str | None, as_json: bool) -> None:
    """The running server: its master, and each worker's state and figures."""
    status = operate(control_client.server_status(
        *control_socket(ctx, app_spec, port, socket_path)))
    if as_json:
        click.echo(json.dumps(status, indent=2))
    else:
        for line in status_lines(status):
            click.echo(line)


@click.command("server:reload")
@control_options
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=60.0,
              show_default=True, help="Seconds the whole reload may take.")
def server_reload(ctx: click.Context, app_spec: str | None, port: int | None,
                  socket_path: str | None, timeout: float) -> None:
    """Replace every worker, one by one, with one running the app's code as it is on disk."""
    generation = operate(control_client.reload_server(
        *control_socket(ctx, app_spec, port, socket_path), timeout))
    click.echo(f"reloaded: every worker of generation {generation} serves")


@click.command("server:scale")
@control_options
@click.argument("workers", type=click.IntRange(min=1))
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=60.0,
              show_default=True, help="Seconds to wait for WORKERS workers to serve.")
def server_scale(ctx: click.Context, app_spec: str | None, port: int | None,
                 socket_path: str | None, workers: int, timeout: float) -> None:
    """Keep WORKERS workers serving; returns once they do."""
    operate(control_client.scale_server(
        *control_socket(ctx, app_spec, port, socket_path), workers, timeout))
    click.echo(f"{workers} workers serving")


@click.command("server:stop")
@control_options
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
              help="Seconds to wait for the master to exit [default: the server's "
                   "graceful_shutdown_timeout + 10].")
def server_stop(ctx: click.Context, app_spec: str | None, port: int | None,
                socket_path: str | None, timeout: float | None) -> None:
    """Stop the server gracefully, as SIGTERM does; returns once its master has exited."""
    pid = operate(control_client.stop_server(
        *control_socket(ctx, app_spec, port, socket_path), timeout))
    click.echo(f"stopped (master pid {pid})")


def status_lines(status: dict[str, Any]) -> list[str]:
    """``fw server:status`` for people: a line about the master, a row per worker."""
    header = (f"master {status['pid']}  app {status['app']}  project {status['project']}  "
              f"{status['address']}  "
              f"up {_duration(status['uptime'])}  generation {status['generation']}  "
              f"broker {status['broker']}  loop {status['loop']}  workers {len(status['workers'])}/"
              f"{status['workers_wanted']}")
    rows = [tuple(_cell(worker[key]) for key in ("id", "pid", "state", "generation"))
            + (_duration(worker["uptime"]),)
            + tuple(_cell(worker[key]) for key in ("requests", "in_flight", "rss_mb", "restarts"))
            for worker in status["workers"]]
    columns = ("id", "pid", "state", "generation", "uptime", "requests", "in flight",
               "RSS MiB", "restarts")
    return [header, *(format_table(columns, rows) if rows else [])]


def _cell(value: Any) -> str:
    """A figure as its table cell: ``-`` when there is none."""
    return "-" if value is None else str(value)


def _duration(seconds: float) -> str:
    """``42s``, ``5m03s``, ``2h05m``, ``3d04h``."""
    whole = int(seconds)
    for unit, size, smaller, smaller_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60),
                                              ("m", 60, "s", 1)):
        if whole >= size:
            return f"{whole // size}{unit}{whole % size // smaller_size:02d}{smaller}"
    return f"{seconds:.0f}s"


COMMANDS = (server_start, server_status, server_reload, server_scale, server_stop)
