"""What ``fw queue:status``, ``queue:retry`` and ``queue:purge`` do to the running server's
job queues: through its control socket's broker pipe, or straight to Redis with a redis
broker_url (the queues live there whether or not a server runs)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from framework.broker import BrokerQueue
from framework.broker.selection import broker_adapter
from framework.config import FrameworkConfig
from framework.server.control.client import open_server_broker
from framework.server.control.identity import ServerIdentity

T = TypeVar("T")
COUNTS = ("waiting", "delayed", "running", "dead")  # the columns of queue:status, in order


async def on_server_queues(path: Path, identity: ServerIdentity | None,
                           config: FrameworkConfig,
                           operation: Callable[[BrokerQueue], Awaitable[T]]) -> T:
    """``operation`` on the server's queues; NoServer (from the control socket) when no
    server runs and the broker is the server's own."""
    if config.broker_url:
        adapter = broker_adapter(config)
        try:
            return await operation(BrokerQueue(adapter, config))
        finally:
            await adapter.close()
    server_broker = await open_server_broker(path, identity, config)
    try:
        return await operation(BrokerQueue(server_broker.adapter, config))
    finally:
        await server_broker.close()


def status_rows(status: dict[str, dict[str, int]]) -> list[tuple[str, ...]]:
    """A row per queue, by name: its name, then its COUNTS."""
    return [(name, *(str(counts.get(column, 0)) for column in COUNTS))
            for name, counts in sorted(status.items())]
