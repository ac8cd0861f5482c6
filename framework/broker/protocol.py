"""The broker's frames on a worker's pipe (key ``"k": "b"``), shared by host and pipe adapter.

Requests carry ``id`` and ``op``; the host answers ``{"re": id, "r": result}`` or
``{"re": id, "e": [error type, message]}``. Pushes from the host carry ``p``: ``"msg"`` (bus
message), ``"job"`` (queue job) or ``"inv"`` (drop a near copy, then send op ``"ack"``).
Either side may send ``{"batch": [frame, ...]}``: the frames of one event-loop turn in one
pipe write, handled in order.
"""

from __future__ import annotations

from typing import Any

KIND = "b"

# Errors the host may send back that are re-raised as the same class in the caller.
REMOTE_ERRORS: dict[str, type[Exception]] = {"TypeError": TypeError, "ValueError": ValueError}


class BrokerError(RuntimeError):
    """The broker could not carry out a call (bad request, or the master went away)."""


def batch(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """One frame carrying ``frames`` (just the frame, when there is one)."""
    return frames[0] if len(frames) == 1 else {"k": KIND, "batch": frames}


def reply(request_id: int, result: Any) -> dict[str, Any]:
    return {"k": KIND, "re": request_id, "r": result}


def error_reply(request_id: int, error: Exception) -> dict[str, Any]:
    return {"k": KIND, "re": request_id, "e": [type(error).__name__, str(error)]}


def remote_error(description: Any) -> Exception:
    """The exception to raise in the caller for an ``"e"`` reply."""
    try:
        kind, message = description
    except (TypeError, ValueError):
        return BrokerError(f"broker call failed: {description!r}")
    return REMOTE_ERRORS.get(kind, BrokerError)(message)
