"""Log lines that repeat under load, at most one per kind per interval.

A dead Redis or an exhausted fd table makes the same failure happen thousands of times a
second; the log should say so once, with how many were left out, not bury the one line that
matters under a traceback per request.
"""

from __future__ import annotations

import logging
import time
from typing import Any


class RateLimitedLog:
    """``log(level, kind, message, *args)`` writes at most one line per ``kind`` per ``interval``.

    The line that ends a quiet spell says how many of that kind were left out before it.
    """

    def __init__(self, logger: logging.Logger, interval: float = 5.0) -> None:
        self.logger = logger
        self.interval = interval
        self._next_allowed: dict[str, float] = {}
        self._left_out: dict[str, int] = {}

    def log(self, level: int, kind: str, message: str, *args: Any) -> bool:
        """Log unless ``kind`` was logged less than ``interval`` ago; True if it was written."""
        now = time.monotonic()
        if now < self._next_allowed.get(kind, 0.0):
            self._left_out[kind] = self._left_out.get(kind, 0) + 1
            return False
        self._next_allowed[kind] = now + self.interval
        left_out = self._left_out.pop(kind, 0)
        if left_out:
            message += " (%d more like it not logged)"
            args = (*args, left_out)
        self.logger.log(level, message, *args)
        return True

    def warning(self, kind: str, message: str, *args: Any) -> bool:
        return self.log(logging.WARNING, kind, message, *args)

    def error(self, kind: str, message: str, *args: Any) -> bool:
        return self.log(logging.ERROR, kind, message, *args)
