"""The interfaces between the server's parts, in one place (as aiohttp's abc.py).

Each Protocol says what one side may use of the other: the server of an App (ServedApp,
ReloadableApp), the control socket of the server it operates (Operated, ReloadOutcome), a
worker's pipe of the master (PipeListener, PipeMetrics), the operator actions of the
arbiter (Supervised). Imports point one way: the App above names none of them, and none
names the master's own bookkeeping (master/slots.py), so every server module may import this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import blinker

from framework.broker import BrokerHost
from framework.config import FrameworkConfig
from framework.di.resolver import Resolver
from framework.http.plan import RoutePlan
from framework.metrics import Snapshot
from framework.module import ModuleTree
from framework.server.control.frames import ServerFigures

__all__ = ["Operated", "PipeListener", "PipeMetrics", "ReloadOutcome", "ReloadableApp",
           "ServedApp", "Supervised"]


class ServedApp(Resolver, Protocol):
    """Routes, middlewares and listeners to serve; resources to start and stop per process.
    cli's App and the testing app's satisfy it as they are."""

    @property
    def name(self) -> str: ...

    @property
    def controllers(self) -> list[type]: ...

    @property
    def route_plans(self) -> Sequence[RoutePlan]:
        """The plan of every HTTP route, made once when the App was built."""
        ...

    @property
    def middlewares(self) -> list[Any]: ...

    @property
    def module_tree(self) -> ModuleTree:
        """The modules, whose listener classes declare the process's jobs."""
        ...

    async def dispatch(self, token: blinker.NamedSignal, event: Any = None) -> None:
        """Run this process's listeners of ``token``."""
        ...

    def override_in_process(self, token: Any, value: Any) -> None:
        """Tell this process's container what ``token`` is here (ProcessInfo, broker, ...)."""
        ...

    async def startup(self) -> None: ...

    async def shutdown(self) -> None: ...


class ReloadableApp(ServedApp, Protocol):
    """What a reload needs of an App besides serving it: its config from the environment."""

    env_loaded: bool

    def load_config_from_env(self) -> Any: ...


class ReloadOutcome(Protocol):
    """How a reload ended: every new worker serves (ok), or the error that stopped it."""

    @property
    def ok(self) -> bool: ...
    @property
    def error(self) -> str | None: ...
    @property
    def generation(self) -> int: ...


class Operated(Protocol):
    """The server the control socket operates: the master's Operator, or the one process."""

    @property
    def broker_host(self) -> BrokerHost | None: ...
    async def status(self) -> ServerFigures: ...
    async def reload(self, timeout: float) -> ReloadOutcome: ...
    def scale(self, workers: int) -> None: ...
    def request_stop(self, graceful: bool = True) -> float:
        """Stop as SIGTERM does; how long the workers may take to drain."""
        ...


class Supervised(Protocol):
    """What the operator actions (master/operator.py) use of the arbiter: what it serves,
    the workers it keeps, and two requests it acts on at its next turn."""

    @property
    def app(self) -> ServedApp: ...
    @property
    def config(self) -> FrameworkConfig: ...
    @property
    def pid(self) -> int: ...
    @property
    def address(self) -> str: ...
    @property
    def started(self) -> float:
        """When the master started (time.monotonic)."""
        ...
    @property
    def broker_host(self) -> BrokerHost | None: ...

    num_workers: int

    def wakeup(self) -> None:
        """Look at the workers again now (something changed)."""
        ...

    def request_halt(self, reason: str, graceful: bool) -> None:
        """Stop the master at its next turn, as SIGTERM does (without draining: not graceful)."""
        ...


class PipeListener(Protocol):
    """What the master hears from the worker with pid ``pid`` over its pipe."""

    def worker_ready(self, pid: int) -> None: ...
    def worker_heard_from(self, pid: int) -> None: ...
    def worker_answered(self, pid: int) -> None: ...
    def worker_retiring(self, pid: int, reason: str) -> None: ...
    def worker_boot_failed(self, pid: int, error: str) -> None: ...
    def worker_closed_pipe(self, pid: int) -> None: ...


class PipeMetrics(Protocol):
    """One worker's part in the master's summed /metrics, for its pipe: it reports, it asks
    for the whole server's text (a scrape it received), and it retires when its pipe closes."""

    def report(self, snapshot: Snapshot) -> None: ...
    def retire(self) -> None: ...
    async def exposition(self) -> bytes: ...
