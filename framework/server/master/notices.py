"""on_worker_online / on_worker_exit for master-side listeners, fired in order by one task.

Supervision only queues them, so a slow monitoring listener never delays a restart.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import blinker

from framework.server.abc import ServedApp

__all__ = ["WorkerNotices"]

logger = logging.getLogger("framework.server")


class WorkerNotices:
    """A queue of (token, event) that ``app.dispatch`` works through, one at a time."""

    def __init__(self, app: ServedApp) -> None:
        self.app = app
        self._queue: asyncio.Queue[tuple[blinker.NamedSignal, Any]] = asyncio.Queue()

    def start(self) -> None:
        asyncio.get_running_loop().create_task(self._fire(), name="worker events")

    def notify(self, token: blinker.NamedSignal, event: Any) -> None:
        self._queue.put_nowait((token, event))

    async def flush(self) -> None:
        """Wait until every queued event has been dispatched."""
        await self._queue.join()

    async def _fire(self) -> None:
        while True:
            token, event = await self._queue.get()
            try:
                await self.app.dispatch(token, event)
            except Exception:  # noqa: BLE001 - a monitoring listener must not stop the master
                logger.exception("a %s listener failed", token.name)
            finally:
                self._queue.task_done()
