"""Control messages between the master and a worker on the worker's pipe (``"k": "ctl"``).

Worker to master: ``ready`` (serving), ``heartbeat``, ``answered`` (once, as its first
answer to a request goes out), ``stats`` (a reply), ``retire`` (asks to be replaced:
max_requests or max_memory_mb reached), ``boot_failed`` (the exception that stopped its
bootstrap), ``metrics`` (its snapshot: a reply with the request's id, or reported on its
own) and ``scrape`` (asks for the whole server's /metrics text). Master to
worker: ``stop`` (graceful, with a timeout), ``stats`` and ``metrics`` (requests) and
``scraped`` (the text, or an error). Broker frames (``"k": "b"``) share the pipe and are
routed elsewhere.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("framework.server")

CONTROL = "ctl"
BROKER = "b"


def control(op: str, **fields: Any) -> dict[str, Any]:
    """A control frame for operation ``op``."""
    return {"k": CONTROL, "op": op, **fields}


def handle_control(receiver: object, message: dict[str, Any], peer: str) -> None:
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
