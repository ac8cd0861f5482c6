"""Resolver: what the layers above DI (HTTP, RPC) use of an App, so they name no App.

An App is one; so is anything with ``get`` and ``request_scope``. Imports point one way.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Protocol

from framework.di.scope import RequestScope


class Resolver(Protocol):
    """Resolves tokens in this process and opens the scope of one request."""

    def get(self, token: Hashable) -> Any:
        """The provider of ``token``'s value (request-scoped ones inside a request scope)."""
        ...

    @property
    def request_scope(self) -> Callable[[], RequestScope]:
        """``with resolver.request_scope():`` (or ``async with``) around one request."""
        ...
