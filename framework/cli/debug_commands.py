"""``debug:config``, ``debug:di`` and ``debug:routes``: the app's declarations as aligned
tables (built in framework/cli/debug.py), printed between the app's events."""

from __future__ import annotations

from collections.abc import Callable

import click

from framework.app import App
from framework.cli.debug import (
    Table,
    config_table,
    format_table,
    providers_table,
    routes_note,
    routes_table,
)
from framework.cli.discovery import APP_OPTION, app_of
from framework.cli.running import execute

__all__ = ["COMMANDS"]


@click.command("debug:config")
@APP_OPTION
@click.pass_context
def debug_config(ctx: click.Context, app_spec: str | None) -> None:
    """Every config value and where it came from (default, option, env, flag)."""
    _show_table(ctx, app_spec, "debug:config", config_table)


@click.command("debug:di")
@APP_OPTION
@click.pass_context
def debug_di(ctx: click.Context, app_spec: str | None) -> None:
    """Every provider by module: its scope, kind, what builds it, and who sees it."""
    _show_table(ctx, app_spec, "debug:di", providers_table)


@click.command("debug:routes")
@APP_OPTION
@click.pass_context
def debug_routes(ctx: click.Context, app_spec: str | None) -> None:
    """Every HTTP route and RPC action: method, path, controller and handler."""
    _show_table(ctx, app_spec, "debug:routes", routes_table, routes_note)


def _show_table(ctx: click.Context, app_spec: str | None, command: str,
                table: Callable[[App], Table],
                note: Callable[[App], str] | None = None) -> None:
    """Print ``table(app)`` aligned (and ``note(app)`` under it) between the app events."""
    app = app_of(ctx, app_spec)

    def show() -> None:
        header, rows = table(app)
        for line in format_table(header, rows):
            click.echo(line)
        if note is not None and note(app):
            click.echo(f"\n{note(app)}")

    execute(app, command, show)


COMMANDS = (debug_config, debug_di, debug_routes)
