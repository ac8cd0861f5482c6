"""ServedApp: what the server uses of an App (imports point one way: the App above, the
server below it names no App). cli's App and the testing app's satisfy it as they are."""

from __future__ import annotations

from typing import Any, Protocol

import blinker

from framework.di.resolver import Resolver
from framework.module import ModuleTree


class ServedApp(Resolver, Protocol):
    """Routes, middlewares and listeners to serve; resources to start and stop per process."""

    @property
    def name(self) -> str: ...

    @property
    def controllers(self) -> list[type]: ...

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
