"""A process's near copies of cache entries: hits cost no round trip, writes invalidate them.

A read that was in flight while its key was invalidated must not store what it read: it
may be older than the write that caused the invalidation. ``begin_read`` / ``end_read``
compare epochs to tell. A copy's ttl counts from when the read was sent, so it never
outlives the broker's entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple


class Read(NamedTuple):
    epoch: int
    started: float


class NearCache:
    """At most ``max_copies`` entries; past that the oldest copy is dropped."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 max_copies: int = 100_000) -> None:
        self._clock = clock
        self._max_copies = max_copies
        self._copies: dict[str, tuple[str, float | None]] = {}
        self._epoch = 0
        self._reads = 0
        self._invalidated_at: dict[str, int] = {}
        self._cleared_at = -1

    def get(self, key: str) -> str | None:
        copy = self._copies.get(key)
        if copy is None:
            return None
        if copy[1] is not None and copy[1] <= self._clock():
            del self._copies[key]
            return None
        return copy[0]

    def begin_read(self) -> Read:
        self._reads += 1
        return Read(self._epoch, self._clock())

    def end_read(self, key: str, read: Read, payload: str | None, ttl: float | None) -> None:
        """Keep ``payload`` unless ``key`` was invalidated since ``begin_read``."""
        self._reads -= 1
        epoch = read.epoch
        stale = epoch <= self._cleared_at or self._invalidated_at.get(key, -1) >= epoch
        if payload is not None and not stale:
            self._copies[key] = (payload, None if ttl is None else read.started + ttl)
            if len(self._copies) > self._max_copies:
                del self._copies[next(iter(self._copies))]
        if not self._reads:
            self._invalidated_at.clear()

    def invalidate(self, key: str) -> None:
        self._copies.pop(key, None)
        if self._reads:
            self._invalidated_at[key] = self._epoch
            self._epoch += 1

    def clear(self) -> None:
        """Drop every copy, e.g. when invalidations may have been missed."""
        self._copies.clear()
        self._cleared_at = self._epoch
        self._epoch += 1
