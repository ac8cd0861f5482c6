"""Control messages between the master and a worker on the worker's pipe (``"k": "ctl"``).

One TypedDict per message, shared by both ends: WorkerMessage what a worker sends (it
serves, it lives, it answered, it asks to retire or failed to boot, its figures, a scrape
of the whole server's /metrics), MasterMessage what the master sends (stop, the requests
for figures, the scrape's text). Broker frames (``"k"``: framework.broker.protocol.KIND)
share the pipe and go to the broker. What arrives is JSON: fields are checked where used.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final, Literal, NotRequired, TypedDict

from framework.broker.protocol import KIND as BROKER
from framework.metrics import Snapshot

__all__ = ["BROKER", "CONTROL", "AskMetrics", "AskStats", "Answered", "BootFailed", "Heartbeat",
           "MasterMessage", "MetricsReport", "Ready", "Retire", "Scrape", "Scraped",
           "StatsReply", "Stop", "WorkerMessage", "handle_control"]

logger = logging.getLogger("framework.server")

CONTROL: Final = "ctl"


class _Control(TypedDict):
    k: Literal["ctl"]


# From a worker to the master.

class Ready(_Control):
    """It serves."""

    op: Literal["ready"]


class Heartbeat(_Control):
    """It lives (the master replaces a worker silent for worker_timeout)."""

    op: Literal["heartbeat"]


class Answered(_Control):
    """Sent once, as its first answer to a request goes out: a death from now on is no
    crash loop."""

    op: Literal["answered"]


class Retire(_Control):
    """It asks to be replaced: max_requests or max_memory_mb reached."""

    op: Literal["retire"]
    reason: str


class BootFailed(_Control):
    """The exception that stopped its bootstrap."""

    op: Literal["boot_failed"]
    error: str


class StatsReply(_Control):
    """Its answer to AskStats."""

    op: Literal["stats"]
    id: int
    rss: int                  # bytes resident
    requests: int             # served so far
    in_flight: int
    uptime: float             # seconds


class MetricsReport(_Control):
    """Its metrics snapshot: the answer to AskMetrics (with its id), or reported on its own."""

    op: Literal["metrics"]
    snapshot: Snapshot
    id: NotRequired[int]


class Scrape(_Control):
    """It was asked for /metrics: it asks for the whole server's text (answered by Scraped)."""

    op: Literal["scrape"]
    id: int


WorkerMessage = (Ready | Heartbeat | Answered | Retire | BootFailed | StatsReply
                 | MetricsReport | Scrape)


# From the master to a worker.

class Stop(_Control):
    """Stop gracefully: drain within ``timeout`` seconds."""

    op: Literal["stop"]
    timeout: float


class AskStats(_Control):
    op: Literal["stats"]
    id: int


class AskMetrics(_Control):
    op: Literal["metrics"]
    id: int


class Scraped(_Control):
    """The answer to Scrape: the exposition text, or the name of the error that stopped it."""

    op: Literal["scraped"]
    id: int
    text: NotRequired[str]
    error: NotRequired[str]


MasterMessage = Stop | AskStats | AskMetrics | Scraped


def handle_control(receiver: object, message: Mapping[str, object], peer: str) -> None:
    """Call ``receiver.on_<op>(message)``; log and drop an unknown op or a malformed message.

    Whatever the peer sends, the receiving process keeps running: a bad message costs a
    warning naming the peer, nothing more.
    """
    op = message.get("op")
    handler = getattr(receiver, f"on_{op}", None) if isinstance(op, str) else None
    if handler is None:
        logger.warning("dropped a control message from %s with unknown op %r", peer, op)
        return
    try:
        handler(message)
    except (KeyError, TypeError, ValueError) as error:
        logger.warning("dropped a malformed %r message from %s: %s: %s",
                       op, peer, type(error).__name__, error)
