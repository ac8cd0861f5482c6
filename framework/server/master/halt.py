"""HaltServer: every way out of the master, with a reason and an exit status.

The arbiter's loop raises it on SIGTERM/SIGINT, an operator's stop or a slot that keeps
failing to boot; the master's services raise it when the master cannot start.
"""

from __future__ import annotations

from framework.errors import FrameworkError

__all__ = ["HaltServer"]


class HaltServer(FrameworkError):
    """Stops the master: why, with which exit status, and whether workers may drain first."""

    def __init__(self, reason: str, exit_status: int = 0, graceful: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exit_status = exit_status
        self.graceful = graceful
