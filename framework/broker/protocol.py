"""The broker's frames on a worker's pipe (key ``"k": "b"``), shared by host and pipe adapter.

Requests carry ``id`` and ``op``; the host answers ``{"re": id, "r": result}`` or
``{"re": id, "e": [error type, message]}``. Pushes from the host carry ``p``: ``"msg"`` (bus
message), ``"job"`` (queue job) or ``"inv"`` (drop a near copy, then send op ``"ack"``).
Either side may send ``{"batch": [frame, ...]}``: the frames of one event-loop turn in one
pipe write, handled in order. A batch is split to stay within the pipe's frame limit, which
holds the largest value a call may carry (``frame_limit``).
"""

from __future__ import annotations

from typing import NamedTuple, TypedDict

import orjson

from framework.broker.channel import MAX_FRAME_SIZE
from framework.errors import FrameworkError

KIND = "b"
FRAME_SLACK = 1024 * 1024  # room for a call's other fields (keys, ids) beside its value
_BATCH_START = b'{"k":"%s","batch":[' % KIND.encode()
_BATCH_END = b"]}"

# Errors the host may send back that are re-raised as the same class in the caller.
REMOTE_ERRORS: dict[str, type[Exception]] = {"TypeError": TypeError, "ValueError": ValueError}


class BrokerFrame(TypedDict, total=False):
    """A broker frame, both ways: the one definition of every field a frame may carry.

    A frame read from a pipe is checked field by field where it is used (the host's
    ``_text``, ``_ttl``): the other process may send anything.
    """

    k: str                    # KIND
    id: int                   # a request's id; its answer carries it as ``re``
    op: str                   # the operation (host.BrokerHost's table)
    re: int
    r: object                 # the answer: any JSON value
    e: list[str]              # an error answer: [error type, message]
    p: str                    # a push from the host: "msg", "job" or "inv"
    batch: list[BrokerFrame]  # the frames of one event-loop turn
    ch: str                   # a bus channel
    v: str                    # a value, encoded as JSON text
    key: str
    ttl: float
    by: float                 # kv increment
    a: int                    # a near copy's ack id
    name: str                 # a lock
    token: str
    q: str                    # a queue
    d: float                  # a job's delay
    c: int                    # a consumer's id
    n: int                    # a consumer's parallel jobs; a job's attempt
    j: int                    # a job's id
    err: str                  # a dead job's last error


class BrokerError(FrameworkError, RuntimeError):
    """The broker could not carry out a call (bad request, or the master went away)."""


class Unsendable(NamedTuple):
    """A frame that cannot go over the pipe, and the error its call should get."""

    frame: BrokerFrame
    error: Exception


def frame_limit(max_value_bytes: int) -> int:
    """The frame limit of a broker pipe for values of up to ``max_value_bytes``.

    A value is JSON text carried inside a JSON frame: escaping at most doubles its bytes.
    """
    return max(MAX_FRAME_SIZE, 2 * max_value_bytes + FRAME_SLACK)


def batch(frames: list[BrokerFrame]) -> BrokerFrame:
    """One frame carrying ``frames`` (just the frame, when there is one)."""
    return frames[0] if len(frames) == 1 else {"k": KIND, "batch": frames}


def encode_batches(frames: list[BrokerFrame],
                   limit: int) -> tuple[list[bytes], list[Unsendable]]:
    """``frames`` encoded in order as batch payloads of at most ``limit`` bytes each, and
    the frames that cannot go at all (too big alone, or not JSON)."""
    try:
        whole = orjson.dumps(batch(frames))
    except orjson.JSONEncodeError:
        whole = None
    if whole is not None and len(whole) <= limit:
        return [whole], []
    payloads: list[bytes] = []
    unsendable: list[Unsendable] = []
    group: list[bytes] = []
    size = len(_BATCH_START) + len(_BATCH_END)
    for frame in frames:
        try:
            encoded = orjson.dumps(frame)
        except orjson.JSONEncodeError as error:
            unsendable.append(Unsendable(frame, TypeError(f"cannot send a broker call: {error}")))
            continue
        if len(encoded) > limit:
            unsendable.append(Unsendable(frame, ValueError(
                f"a broker message of {len(encoded)} bytes is over the {limit}-byte frame "
                "limit of the pipe between worker and master (broker_max_value_mb sets it)")))
            continue
        if group and size + len(encoded) + 1 > limit:
            payloads.append(_join(group))
            group, size = [], len(_BATCH_START) + len(_BATCH_END)
        group.append(encoded)
        size += len(encoded) + 1
    if group:
        payloads.append(_join(group))
    return payloads, unsendable


def _join(encoded_frames: list[bytes]) -> bytes:
    if len(encoded_frames) == 1:
        return encoded_frames[0]
    return _BATCH_START + b",".join(encoded_frames) + _BATCH_END


def reply(request_id: int, result: object) -> BrokerFrame:
    return {"k": KIND, "re": request_id, "r": result}


def error_reply(request_id: int, error: Exception) -> BrokerFrame:
    return {"k": KIND, "re": request_id, "e": [type(error).__name__, str(error)]}


def remote_error(description: object) -> Exception:
    """The exception to raise in the caller for an ``"e"`` reply."""
    if not (isinstance(description, list) and len(description) == 2
            and all(isinstance(part, str) for part in description)):
        return BrokerError(f"broker call failed: {description!r}")
    kind, message = description
    return REMOTE_ERRORS.get(kind, BrokerError)(message)
