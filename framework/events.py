"""Event tokens (blinker signals), their event objects, and ``event_dispatcher.listen``.

A listener is a method of a listener class (built by the container, so its constructor is
injected) or a plain function, listed in a module's ``listeners``. ``App.dispatch`` runs a
token's listeners of the current process in ``order`` (lower first), awaiting async ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import blinker

from framework.errors import FrameworkError
from framework.process import ProcessInfo

_tokens = blinker.Namespace()

on_server_bootstrap = _tokens.signal("on_server_bootstrap", "once in every process of the server")
on_server_shutdown = _tokens.signal("on_server_shutdown", "once in every process of the server")
on_server_main_bootstrap = _tokens.signal("on_server_main_bootstrap", "once in the master")
on_server_main_shutdown = _tokens.signal(
    "on_server_main_shutdown", "once in the master, after every worker has exited")
on_server_worker_bootstrap = _tokens.signal("on_server_worker_bootstrap", "once in each worker")
on_server_worker_shutdown = _tokens.signal("on_server_worker_shutdown", "once in each worker")
on_server_bootstrap_done = _tokens.signal(
    "on_server_bootstrap_done", "in every process, once it listens")
on_server_main_bootstrap_done = _tokens.signal(
    "on_server_main_bootstrap_done", "in the master, once it listens")
on_server_worker_bootstrap_done = _tokens.signal(
    "on_server_worker_bootstrap_done", "in each worker, once it listens")
on_worker_online = _tokens.signal("on_worker_online", "in the master, when a worker started")
on_worker_exit = _tokens.signal("on_worker_exit", "in the master, when a worker exited")
on_app_execute = _tokens.signal("on_app_execute", "before every CLI command")
on_app_shutdown = _tokens.signal("on_app_shutdown", "after every CLI command, even a failed one")


@dataclass(frozen=True)
class ServerEvent:
    """The event of the on_server_* tokens: the process it fires in."""

    process: ProcessInfo


@dataclass(frozen=True)
class WorkerEvent:
    """The event of on_worker_online / on_worker_exit, fired in the master."""

    worker_id: int
    pid: int
    exit_code: int | None = None
    signal: int | None = None
    will_restart: bool = False


@dataclass(frozen=True)
class AppEvent:
    """The event of on_app_execute / on_app_shutdown: the CLI command and its exit code."""

    command: str
    exit_code: int | None = None


class ListenerError(FrameworkError, RuntimeError):
    """A listener raised; the message names the listener, the token and the exception."""


LISTENS_ATTRIBUTE = "__fw_listens__"
F = TypeVar("F", bound=Callable[..., object])


class EventDispatcher:
    """Marks listeners; ``App.dispatch`` finds the marks on the classes and functions listed."""

    def listen(self, token: blinker.Signal, order: int = 0) -> Callable[[F], F]:
        """Decorate a listener method or function: it runs when ``token`` fires."""
        if not isinstance(token, blinker.Signal):
            raise TypeError(f"listen() takes an event token (a blinker signal), got {token!r}")

        def mark(function: F) -> F:
            marks = function.__dict__.setdefault(LISTENS_ATTRIBUTE, [])
            marks.append((token, order))
            return function
        return mark


def listened_tokens(function: object) -> list[tuple[blinker.Signal, int]]:
    """The (token, order) marks ``listen`` put on ``function``."""
    return list(getattr(function, LISTENS_ATTRIBUTE, ()))


event_dispatcher = EventDispatcher()
