"""``queue:status``, ``queue:retry`` and ``queue:purge``: the job queues of the running
server's broker, reached over its control socket or in Redis (see
framework/server/control/queues.py). Like the server:* control commands, they read the
app's config only to find the server."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import click

from framework.broker import BrokerQueue
from framework.broker.codec import check_name
from framework.cli.debug import format_table
from framework.cli.discovery import app_of
from framework.cli.errors import CliError
from framework.cli.server_commands import control_options, control_socket, operate
from framework.config import FrameworkConfig
from framework.server.control.queues import COUNTS, on_server_queues, status_rows

__all__ = ["COMMANDS"]


@click.command("queue:status")
@control_options
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def queue_status(ctx: click.Context, app_spec: str | None, port: int | None,
                 socket_path: str | None, as_json: bool) -> None:
    """Each job queue of the running server's broker: jobs waiting, delayed, running, dead."""
    status = _on_queues(ctx, app_spec, port, socket_path, lambda queue: queue.status())
    if as_json:
        click.echo(json.dumps(status, indent=2))
    elif not status:
        click.echo("no queues")
    else:
        for line in format_table(("queue", *COUNTS), status_rows(status)):
            click.echo(line)


@click.command("queue:retry")
@control_options
@click.argument("name")
def queue_retry(ctx: click.Context, app_spec: str | None, port: int | None,
                socket_path: str | None, name: str) -> None:
    """Put the dead jobs of queue NAME back to waiting, their attempts counted afresh."""
    _check_queue_name(name)
    moved = _on_queues(ctx, app_spec, port, socket_path, lambda queue: queue.retry_dead(name))
    click.echo(f"{moved} dead jobs of {name} back to waiting")


@click.command("queue:purge")
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
    """``operation`` on the running server's queues."""
    path, identity = control_socket(ctx, app_spec, port, socket_path)
    config = FrameworkConfig() if socket_path else app_of(ctx, app_spec).get(FrameworkConfig)
    return operate(on_server_queues(path, identity, config, operation))


def _check_queue_name(name: str) -> None:
    """A name no queue can have is one line, exit 2, before the server is asked."""
    try:
        check_name(name, "queue name")
    except (TypeError, ValueError) as error:
        raise CliError(str(error)) from None


COMMANDS = (queue_status, queue_retry, queue_purge)
