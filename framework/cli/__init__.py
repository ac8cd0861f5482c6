"""The ``fw`` command line: the built-in commands and the app's module commands.

``fw`` finds the app from ``--app module:attr``, ``FW_APP`` or ``app.py`` in the working
directory; ``python app.py <command>`` (``App.run``) uses that app directly (discovery.py).
Commands that run on the app fire its events around them (running.py); server:* serve and
operate its server (server_commands.py), queue:* its job queues (queue_commands.py),
debug:* print its declarations (debug_commands.py), and ``new`` makes a project
(new_command.py). Errors are one line on stderr with exit code 2 (1 when the server could
not carry out an operation).
"""

from __future__ import annotations

import sys

import click

from framework.app import App
from framework.cli import debug_commands, queue_commands, server_commands
from framework.cli.discovery import APP_OPTION, app_of
from framework.cli.errors import CliError, OperationFailed
from framework.cli.new_command import new
from framework.cli.running import module_command
from framework.process import process_info

__all__ = ["CliError", "FwGroup", "OperationFailed", "cli", "main", "run_app"]


class FwGroup(click.Group):
    """The built-in commands, plus the module commands of the app (found when asked for)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        try:
            app = app_of(ctx)
        except click.ClickException:
            return names
        return names + sorted(c.name for c in app.commands
                              if c.name is not None and c.name not in names)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        builtin = super().get_command(ctx, name)
        if builtin is not None:
            return builtin
        app = app_of(ctx)
        for command in app.commands:
            if command.name == name:
                return module_command(app, command)
        raise CliError(f"no such command {name!r}; commands: "
                       f"{', '.join(self.list_commands(ctx))}")


@click.group(cls=FwGroup, context_settings={"help_option_names": ["-h", "--help"]},
             commands=[*server_commands.COMMANDS, *queue_commands.COMMANDS,
                       *debug_commands.COMMANDS, new])
@APP_OPTION
def cli(app_spec: str | None) -> None:
    """fw: serve and inspect an fw application."""


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
