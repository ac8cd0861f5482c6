"""The control socket's frames, both ways: one definition of each, shared by the server's
end (listener.py) and the CLI's (client.py).

A request names its operation in ``op``; each gets one answer whose ``ok`` is true with the
operation's fields, or false with ``error`` (a Refusal). A ``broker`` request, once
answered, turns the connection into a broker pipe (framework.broker.protocol's frames).
Whatever arrives from the other end is JSON: its fields are checked where they are used.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

__all__ = ["BrokerAnswer", "ControlAnswer", "ControlRequest", "IdentifyAnswer", "Identity",
           "Refusal", "ReloadAnswer", "ReloadRequest", "ScaleAnswer", "ScaleRequest",
           "ServerFigures", "ServerInfo", "ServerStatus", "SimpleRequest", "StatusAnswer",
           "StopAnswer", "StopRequest", "WorkerStatus"]


# Requests, from the CLI.

class SimpleRequest(TypedDict):
    """An operation without arguments."""

    op: Literal["identify", "status", "broker"]


class ReloadRequest(TypedDict):
    op: Literal["reload"]
    timeout: NotRequired[float]   # seconds the whole reload may take (60 by default)


class ScaleRequest(TypedDict):
    op: Literal["scale"]
    workers: int


class StopRequest(TypedDict):
    op: Literal["stop"]
    graceful: NotRequired[bool]   # False: stop without draining


ControlRequest = SimpleRequest | ReloadRequest | ScaleRequest | StopRequest


# What a server says of itself.

class Identity(TypedDict):
    """Which project a server serves (identity.py)."""

    app: str
    project: str
    directory: str


class ServerInfo(Identity):
    pid: int


class WorkerStatus(TypedDict):
    """One worker in ``fw server:status``; None for the figures of one that did not answer."""

    id: int
    pid: int
    state: str
    generation: int
    uptime: float
    requests: int | None
    in_flight: int | None
    rss_mb: float | None
    restarts: int


class ServerFigures(TypedDict):
    """The whole server, its master and each live worker, as it reports itself (status.py)."""

    pid: int
    app: str
    address: str
    uptime: float
    generation: int
    broker: Literal["redis", "memory"]
    loop: Literal["asyncio", "uvloop"]  # what the workers (or the one process) run
    workers_wanted: int
    workers: list[WorkerStatus]


class ServerStatus(ServerFigures):
    """``fw server:status``: the server's figures and its identity (the control socket's)."""

    project: str
    directory: str


# Answers, from the server.

class Refusal(TypedDict):
    ok: Literal[False]
    error: str


class IdentifyAnswer(TypedDict):
    ok: Literal[True]
    server: ServerInfo


class StatusAnswer(TypedDict):
    ok: Literal[True]
    status: ServerStatus


class ReloadAnswer(TypedDict):
    """``ok`` once every new worker serves; else ``error`` says what stopped the reload."""

    ok: bool
    error: str | None
    generation: int


class ScaleAnswer(TypedDict):
    ok: Literal[True]
    workers: int


class StopAnswer(TypedDict):
    ok: Literal[True]
    pid: int
    drain_timeout: float          # seconds the workers may take to drain


class BrokerAnswer(TypedDict):
    """The connection is a broker pipe from now on, with this frame limit both ways."""

    ok: Literal[True]
    frame_limit: int


ControlAnswer = (Refusal | IdentifyAnswer | StatusAnswer | ReloadAnswer | ScaleAnswer
                 | StopAnswer | BrokerAnswer)
