"""Which event loop a serving process runs: FrameworkConfig.loop, ``auto`` by default.

``auto`` takes uvloop wherever it is installed (it is a dependency of fw on the platforms it
supports), else asyncio's own loop; ``uvloop`` insists on it (start-up stops when it is
missing), ``asyncio`` never takes it. Workers and the one process run the chosen loop. The
master keeps asyncio's selector loop on a selector of its own, which survives forking
(server/master/arbiter.py): a worker starts a fresh loop after the fork.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable
from typing import Literal

from framework.config import ConfigError

__all__ = ["LoopChoice", "loop_factory", "loop_name"]

LoopChoice = Literal["auto", "asyncio", "uvloop"]


def loop_name(choice: LoopChoice) -> Literal["asyncio", "uvloop"]:
    """The loop ``choice`` gives on this machine; ConfigError when uvloop is asked for and
    is not installed."""
    installed = _uvloop_installed()
    if choice == "uvloop" and not installed:
        raise ConfigError("FrameworkConfig.loop: 'uvloop' is not installed here (pip install "
                          "uvloop), or choose 'auto' or 'asyncio'", "loop")
    return "uvloop" if installed and choice != "asyncio" else "asyncio"


def _uvloop_installed() -> bool:
    """Whether uvloop can be imported here, found without importing it."""
    try:
        return importlib.util.find_spec("uvloop") is not None
    except ImportError:  # an import hook that refuses it
        return False


def loop_factory(choice: LoopChoice) -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes a serving process's event loop for ``choice``."""
    if loop_name(choice) == "uvloop":
        import uvloop

        new_uvloop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return new_uvloop
    return asyncio.new_event_loop
