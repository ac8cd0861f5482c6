"""Validation faults: what is wrong with an input and where, as one small named type.

JSON conversion, HTTP binding and RPC params collect Faults; InvalidInput carries them to
the answer, where each becomes one entry of the error's list (HTTP ``errors``, RPC ``data``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from framework.errors import FrameworkError

__all__ = ["Fault", "Faults", "InvalidInput"]


class Fault(NamedTuple):
    """One wrong value: ``where`` it was read (path, query, header, cookie, body, params),
    the ``field`` at fault inside it (``lines[0].sku``; "" for the whole) and the ``problem``."""

    where: str
    field: str
    problem: str


class Faults(list[Fault]):
    """The faults found in one input read from one place: ``add`` records one there."""

    def __init__(self, where: str) -> None:
        super().__init__()
        self.where = where

    def add(self, field: str, problem: str) -> None:
        """Record that ``field`` (of this input) has ``problem``."""
        self.append(Fault(self.where, field, problem))


class InvalidInput(FrameworkError):
    """Input that does not fit the declared types; ``errors`` lists each Fault."""

    def __init__(self, errors: Iterable[Fault]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{fault.field or fault.where}: {fault.problem}"
                                   for fault in self.errors))
