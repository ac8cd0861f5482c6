"""The request scope: one cache of request-scoped instances per scope, local to its context.

Opening a scope sets a fresh dict in a ContextVar (so concurrent asyncio tasks and threads
each see their own) and closing it restores the previous one. A request-scoped provider is a
small function marked as a dependency-injector provider: it returns the scope's instance or
builds it with the compiled provider behind it. dependency-injector's ContextLocalSingleton
was measured slower per request (its reset and first build cost more than the whole graph).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any, NoReturn

from framework.compat.dependency_injector import as_provider
from framework.di.errors import ScopeError

_MISSING = object()


Instances = dict[object, object]  # by the request-scoped provider that built them


class _NoScope(Instances):
    """The scope cache outside any request scope: every lookup explains the mistake."""

    __slots__ = ()

    def get(self, builder: Any, default: object = None) -> NoReturn:
        raise ScopeError(f"{builder.__fw_name__} is request-scoped: resolve it inside "
                         "`with app.request_scope():` (or `async with`)")


_current: ContextVar[Instances] = ContextVar("fw_request_scope",
                                            default=_NoScope())  # noqa: B039


class RequestScope:
    """``with`` / ``async with``: request-scoped services built inside are this scope's own."""

    __slots__ = ("_token",)
    _token: Token[Instances]

    def __enter__(self) -> RequestScope:
        self._token = _current.set({})
        return self

    def __exit__(self, *exc_info: object) -> None:
        _current.reset(self._token)

    async def __aenter__(self) -> RequestScope:
        self._token = _current.set({})
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        _current.reset(self._token)


def request_scoped(build: Callable[[], object], name: str) -> Callable[[], object]:
    """A provider returning the current scope's instance made by ``build`` (built once)."""
    get_scope = _current.get
    missing = _MISSING

    def provide_for_request() -> object:
        instances = get_scope()
        instance = instances.get(provide_for_request, missing)
        if instance is missing:
            instance = instances[provide_for_request] = build()
        return instance

    provide_for_request.__fw_name__ = name  # type: ignore[attr-defined]
    return as_provider(provide_for_request)
