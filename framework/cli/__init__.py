"""The ``fw`` command line: app discovery, built-in commands and the app's module commands.

``fw`` finds the app from ``--app module:attr``, ``FW_APP`` or ``app.py`` in the working
directory; ``python app.py <command>`` (``App.run``) uses that app directly. Every command
run on an app fires on_app_execute before and on_app_shutdown after (even after an error),
all on one event loop; an async module command run while the app's server runs here uses
that server's broker (over its control socket). server:status, server:reload, server:scale
and server:stop operate a running server over its control socket, queue:status, queue:retry
and queue:purge its job queues (over that socket, or in Redis): they read the app's config
only to find it (they fire no app events). Errors are one line on stderr with exit
code 2 (1 when the server could not carry out an operation).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import importlib
import inspect
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from framework.app import App
from framework.config import ConfigError, FrameworkConfig
from framework.di.errors import DependencyError
from framework.errors import DeclarationError, FrameworkError
from framework.events import AppEvent, ListenerError, on_app_execute, on_app_shutdown
from framework.process import process_info

if TYPE_CHECKING:
    from framework.broker import BrokerQueue
    from framework.cli.debug import Table
    from framework.server.control.client import ServerBroker
    from framework.server.control.identity import ServerIdentity
    from framework.server.reloader import AppSource

_APP_ERRORS = (ConfigError, DeclarationError, DependencyError, ListenerError)


class CliError(FrameworkError, click.ClickException):
    """A one-line error; exit code 2."""

    exit_code = 2


class OperationFailed(CliError):
    """The running server could not carry out an operation (a reload that failed); exit 1."""

    exit_code = 1


def app_location(spec: str | None) -> tuple[str, str]:
    """The module and attribute of the app named by ``spec`` (``module:attr``), ``FW_APP``,
    or ``app.py`` in the cwd."""
    spec = spec or os.environ.get("FW_APP")
    if spec:
        module_name, _, attribute = spec.partition(":")
        return module_name, attribute or "app"
    if Path("app.py").is_file():
        return "app", "app"
    raise CliError("no app found: pass --app module:attr, set FW_APP, "
                   "or run fw in the directory of your app.py")


def discover_app(spec: str | None) -> App:
    """The App named by ``spec`` (``module:attr``), ``FW_APP``, or ``app.py`` in the cwd."""
    module_name, attribute = app_location(spec)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except _APP_ERRORS as error:
        raise CliError(f"{type(error).__name__}: {error}") from None
    except Exception as error:
        raise CliError(f"cannot import app module {module_name!r}: "
                       f"{type(error).__name__}: {error}") from None
    app = getattr(module, attribute, None)
    if not isinstance(app, App):
        found = "nothing" if app is None else type(app).__name__
        raise CliError(f"{module_name}:{attribute} is not an fw App (found {found})")
    return app


def _app_of(ctx: click.Context, spec: str | None = None) -> App:
    """The app of this invocation: given to App.run, or discovered once."""
    root = ctx.find_root()
    state = root.ensure_object(dict)
    if "app" not in state or spec:
        spec = spec or root.params.get("app_spec")
        state["app"] = discover_app(spec)
        state["found_at"] = app_location(spec)  # where a reload imports it again
    app: App = state["app"]
    if not app.env_loaded:
        try:
            app.load_config_from_env()
        except ConfigError as error:
            raise CliError(f"ConfigError: {error}") from None
    return app


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
            except _APP_ERRORS:
                exit_code = 2
                raise
            finally:
                if os.getpid() == pid:  # not in a forked worker that returned here
                    runner.run(_finish(app, command, exit_code, attached))
    except _APP_ERRORS as error:
        raise CliError(f"{type(error).__name__}: {error}") from None
    return exit_code


async def _finish(app: App, command: str, exit_code: int,
                  attached: ServerBroker | None = None) -> None:
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
    from framework.server.control.client import attach_server_broker

    try:
        config = app.get(FrameworkConfig)
    except DependencyError:
        return None  # no FrameworkModule: no broker either
    return await attach_server_broker(app, _source_of(click.get_current_context(silent=True),
                                                      app).identity(app.name), config)


class FwGroup(click.Group):
    """The built-in commands, plus the module commands of the app (found when asked for)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        try:
            app = _app_of(ctx)
        except click.ClickException:
            return names
        return names + sorted(c.name for c in app.commands
                              if c.name is not None and c.name not in names)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        builtin = super().get_command(ctx, name)
        if builtin is not None:
            return builtin
        app = _app_of(ctx)
        for command in app.commands:
            if command.name == name:
                return module_command(app, command)
        raise CliError(f"no such command {name!r}; commands: "
                       f"{', '.join(self.list_commands(ctx))}")


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


APP_OPTION = click.option("--app", "app_spec", metavar="MODULE:ATTR",
                          help="The app to use (default: $FW_APP, or app.py here).")


@click.group(cls=FwGroup, context_settings={"help_option_names": ["-h", "--help"]})
@APP_OPTION
def cli(app_spec: str | None) -> None:
    """fw: serve and inspect an fw application."""


@cli.command("new")
@click.argument("name")
@click.option("--directory", type=click.Path(file_okay=False, path_type=Path),
              help="Where to create the project (default: ./NAME).")
def new(name: str, directory: Path | None) -> None:
    """Create a new project NAME from fw's template."""
    from framework.cli.scaffold import ScaffoldError, create_project, fw_source, next_steps

    target = directory or Path(name)
    try:
        create_project(name, target)
    except ScaffoldError as error:
        raise CliError(str(error)) from None
    steps = "".join(f"    {step}\n" for step in next_steps(target))
    click.echo(f"Created {target}. Next, in a shell:\n\n{steps}")
    if fw_source() is not None:
        click.echo("fw is on no package index: the first pip step installs it from where "
                   "this fw came from.")


@cli.command("server:start")
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
    app = _app_of(ctx, app_spec)
    flags = {name: value for name, value in
             (("host", host), ("port", port), ("workers", workers)) if value is not None}
    try:
        app.configure("framework", **flags)
    except ConfigError as error:
        raise CliError(str(error)) from None

    from framework.server import plan_server

    # the flags are in the app's config now
    server = plan_server(app, pid_file=pid_file, source=_source_of(ctx, app))
    ctx.exit(execute(app, "server:start", server.serve, server.loop_factory))


# Operating the running server, over its control socket.

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


def _control_socket(ctx: click.Context, app_spec: str | None, port: int | None,
                    socket_path: str | None) -> tuple[Path, ServerIdentity | None]:
    """The control socket to talk to, and the identity its server must confirm: this
    project's app (none for a socket named with --socket)."""
    from framework.server.control.identity import ServerIdentity
    from framework.server.control.listener import find_control_socket, project_sockets

    if socket_path:
        return Path(socket_path), None
    try:
        app = _app_of(ctx, app_spec)
    except CliError as error:
        # The app cannot be imported (a reload is how its fix gets deployed): the server
        # of this project answering on --port is the one meant; without --port, say how.
        project = _project_without_app(app_spec) if port is not None else None
        if project is not None:
            identity = ServerIdentity.of("", project)
            found = project_sockets(identity, port)
            if len(found) == 1:
                return found[0], identity
        raise CliError(f"{error.message} (to reach its running server anyway: --port or "
                       "--socket)") from None
    config: FrameworkConfig = app.get(FrameworkConfig)
    identity = _source_of(ctx, app).identity(app.name)
    return find_control_socket(config, identity, port), identity


def _project_without_app(app_spec: str | None) -> str | None:
    """The project of an app that cannot be imported: its module's, found without running
    it; with no app to find at all, the working directory (as for an app built in python -c
    code)."""
    from framework.server.reloader import project_of_module

    try:
        module_name = app_location(app_spec)[0]
    except CliError:
        return os.getcwd()
    return project_of_module(module_name)


def _source_of(ctx: click.Context | None, app: App) -> AppSource:
    """Where this invocation found ``app``: its project, and how a reload imports it."""
    from framework.server.reloader import AppSource

    found_at = ctx.find_root().ensure_object(dict).get("found_at") if ctx else None
    return AppSource.found_at(*found_at) if found_at else AppSource.of_main(app)


def _operate(operation: Coroutine[Any, Any, Any]) -> Any:
    """The result of ``operation`` on the server; no server: exit 2; a failure: exit 1."""
    from framework.server.control.client import ControlError, NoServer

    try:
        return asyncio.run(operation)
    except NoServer as error:
        raise CliError(str(error)) from None
    except (ControlError, ConnectionError) as error:
        raise OperationFailed(str(error) or type(error).__name__) from None


@cli.command("server:status")
@control_options
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def server_status(ctx: click.Context, app_spec: str | None, port: int | None,
                  socket_path: str | None, as_json: bool) -> None:
    """The running server: its master, and each worker's state and figures."""
    from framework.server.control import client as control_client

    status = _operate(control_client.server_status(
        *_control_socket(ctx, app_spec, port, socket_path)))
    if as_json:
        click.echo(json.dumps(status, indent=2))
    else:
        for line in status_lines(status):
            click.echo(line)


@cli.command("server:reload")
@control_options
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=60.0,
              show_default=True, help="Seconds the whole reload may take.")
def server_reload(ctx: click.Context, app_spec: str | None, port: int | None,
                  socket_path: str | None, timeout: float) -> None:
    """Replace every worker, one by one, with one running the app's code as it is on disk."""
    from framework.server.control.client import reload_server

    generation = _operate(reload_server(*_control_socket(ctx, app_spec, port, socket_path),
                                        timeout))
    click.echo(f"reloaded: every worker of generation {generation} serves")


@cli.command("server:scale")
@control_options
@click.argument("workers", type=click.IntRange(min=1))
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=60.0,
              show_default=True, help="Seconds to wait for WORKERS workers to serve.")
def server_scale(ctx: click.Context, app_spec: str | None, port: int | None,
                 socket_path: str | None, workers: int, timeout: float) -> None:
    """Keep WORKERS workers serving; returns once they do."""
    from framework.server.control.client import scale_server

    _operate(scale_server(*_control_socket(ctx, app_spec, port, socket_path), workers, timeout))
    click.echo(f"{workers} workers serving")


@cli.command("server:stop")
@control_options
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
              help="Seconds to wait for the master to exit [default: the server's "
                   "graceful_shutdown_timeout + 10].")
def server_stop(ctx: click.Context, app_spec: str | None, port: int | None,
                socket_path: str | None, timeout: float | None) -> None:
    """Stop the server gracefully, as SIGTERM does; returns once its master has exited."""
    from framework.server.control.client import stop_server

    pid = _operate(stop_server(*_control_socket(ctx, app_spec, port, socket_path), timeout))
    click.echo(f"stopped (master pid {pid})")


@cli.command("queue:status")
@control_options
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def queue_status(ctx: click.Context, app_spec: str | None, port: int | None,
                 socket_path: str | None, as_json: bool) -> None:
    """Each job queue of the running server's broker: jobs waiting, delayed, running, dead."""
    from framework.cli.debug import format_table
    from framework.server.control.queues import COUNTS, status_rows

    status = _on_queues(ctx, app_spec, port, socket_path, lambda queue: queue.status())
    if as_json:
        click.echo(json.dumps(status, indent=2))
    elif not status:
        click.echo("no queues")
    else:
        for line in format_table(("queue", *COUNTS), status_rows(status)):
            click.echo(line)


@cli.command("queue:retry")
@control_options
@click.argument("name")
def queue_retry(ctx: click.Context, app_spec: str | None, port: int | None,
                socket_path: str | None, name: str) -> None:
    """Put the dead jobs of queue NAME back to waiting, their attempts counted afresh."""
    _check_queue_name(name)
    moved = _on_queues(ctx, app_spec, port, socket_path, lambda queue: queue.retry_dead(name))
    click.echo(f"{moved} dead jobs of {name} back to waiting")


@cli.command("queue:purge")
@control_options
@click.argument("name")
def queue_purge(ctx: click.Context, app_spec: str | None, port: int | None,
                socket_path: str | None, name: str) -> None:
    """Drop the waiting, delayed and dead jobs of queue NAME (running ones finish)."""
    _check_queue_name(name)
    dropped = _on_queues(ctx, app_spec, port, socket_path, lambda queue: queue.purge(name))
    click.echo(f"{dropped} jobs of {name} dropped")


def _on_queues(ctx: click.Context, app_spec: str | None, port: int | None,
               socket_path: str | None,
               operation: Callable[[BrokerQueue], Awaitable[Any]]) -> Any:
    """``operation`` on the running server's queues (see framework/server/control/queues.py)."""
    from framework.server.control.queues import on_server_queues

    path, identity = _control_socket(ctx, app_spec, port, socket_path)
    config = FrameworkConfig() if socket_path else _app_of(ctx, app_spec).get(FrameworkConfig)
    return _operate(on_server_queues(path, identity, config, operation))


def _check_queue_name(name: str) -> None:
    """A name no queue can have is one line, exit 2, before the server is asked."""
    from framework.broker.codec import check_name

    try:
        check_name(name, "queue name")
    except (TypeError, ValueError) as error:
        raise CliError(str(error)) from None


def status_lines(status: dict[str, Any]) -> list[str]:
    """``fw server:status`` for people: a line about the master, a row per worker."""
    from framework.cli.debug import format_table

    header = (f"master {status['pid']}  app {status['app']}  project {status['project']}  "
              f"{status['address']}  "
              f"up {_duration(status['uptime'])}  generation {status['generation']}  "
              f"broker {status['broker']}  workers {len(status['workers'])}/"
              f"{status['workers_wanted']}")
    rows = [tuple(_cell(worker[key]) for key in ("id", "pid", "state", "generation"))
            + (_duration(worker["uptime"]),)
            + tuple(_cell(worker[key]) for key in ("requests", "in_flight", "rss_mb", "restarts"))
            for worker in status["workers"]]
    columns = ("id", "pid", "state", "generation", "uptime", "requests", "in flight",
               "RSS MiB", "restarts")
    return [header, *(format_table(columns, rows) if rows else [])]


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def _duration(seconds: float) -> str:
    """``42s``, ``5m03s``, ``2h05m``, ``3d04h``."""
    whole = int(seconds)
    for unit, size, smaller, smaller_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60),
                                              ("m", 60, "s", 1)):
        if whole >= size:
            return f"{whole // size}{unit}{whole % size // smaller_size:02d}{smaller}"
    return f"{seconds:.0f}s"


@cli.command("debug:config")
@APP_OPTION
@click.pass_context
def debug_config(ctx: click.Context, app_spec: str | None) -> None:
    """Every config value and where it came from (default, option, env, flag)."""
    from framework.cli.debug import config_table

    _show_table(ctx, app_spec, "debug:config", config_table)


@cli.command("debug:di")
@APP_OPTION
@click.pass_context
def debug_di(ctx: click.Context, app_spec: str | None) -> None:
    """Every provider by module: its scope, kind, what builds it, and who sees it."""
    from framework.cli.debug import providers_table

    _show_table(ctx, app_spec, "debug:di", providers_table)


@cli.command("debug:routes")
@APP_OPTION
@click.pass_context
def debug_routes(ctx: click.Context, app_spec: str | None) -> None:
    """Every HTTP route and RPC action: method, path, controller and handler."""
    from framework.cli.debug import routes_note, routes_table

    _show_table(ctx, app_spec, "debug:routes", routes_table, routes_note)


def _show_table(ctx: click.Context, app_spec: str | None, command: str,
                table: Callable[[App], Table],
                note: Callable[[App], str] | None = None) -> None:
    """Print ``table(app)`` aligned (and ``note(app)`` under it) between the app events."""
    from framework.cli.debug import format_table

    app = _app_of(ctx, app_spec)

    def show() -> None:
        header, rows = table(app)
        for line in format_table(header, rows):
            click.echo(line)
        if note is not None and note(app):
            click.echo(f"\n{note(app)}")

    execute(app, command, show)


def run_app(app: App | None, argv: list[str] | None = None, prog_name: str | None = None) -> None:
    """Run the command line (for ``app`` when given, else discovering it) and exit."""
    if process_info().is_worker:  # a script imported again by a reload calls App.run
        raise CliError("a worker ran fw's command line: the app's script calls app.run() "
                       "when imported; call it under if __name__ == \"__main__\":")
    obj = {"app": app} if app is not None else None
    try:
        result = cli.main(args=argv, prog_name=prog_name, obj=obj, standalone_mode=False)
    except click.exceptions.Exit as stop:
        sys.exit(stop.exit_code)
    except click.exceptions.NoArgsIsHelpError as no_command:
        click.echo(no_command.ctx.get_help() if no_command.ctx else "Usage: fw COMMAND")
        sys.exit(0)
    except click.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(1)
    except click.ClickException as error:
        click.echo(f"Error: {error.format_message()}", err=True)
        sys.exit(error.exit_code)
    sys.exit(result if isinstance(result, int) else 0)


def main() -> None:
    """The ``fw`` console script."""
    run_app(None, prog_name="fw")
