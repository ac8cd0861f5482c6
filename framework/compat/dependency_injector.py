"""Where fw touches dependency-injector's internals: its provider marker, feature-checked.

A request-scoped service is built by a plain function of fw's (framework/di/scope.py). Marked
with dependency-injector's ``__IS_PROVIDER__`` attribute, the function is called where a
provider is expected (a Factory's argument) with no provider object around it; where the
installed version does not honour the mark, ``providers.Callable`` wraps it instead, which
builds the same, a little slower.
"""

from __future__ import annotations

from collections.abc import Callable

from dependency_injector import providers

__all__ = ["PROVIDER_MARKER_FAST", "as_provider"]


def _marked_provider(function: Callable[[], object]) -> Callable[[], object]:
    function.__IS_PROVIDER__ = True  # type: ignore[attr-defined]
    return function


def _marked_provider_is_called() -> bool:
    """Does this dependency-injector call a marked function as a Factory's argument?"""
    marked = _marked_provider(lambda: "built")
    return providers.is_provider(marked) and providers.Factory(dict, value=marked)() == {
        "value": "built"}


try:
    PROVIDER_MARKER_FAST = _marked_provider_is_called()
except Exception:  # noqa: BLE001 - any failure of the check means: take the public path
    PROVIDER_MARKER_FAST = False


def as_provider(function: Callable[[], object]) -> Callable[[], object]:
    """``function`` as dependency-injector takes a provider (called for each build that
    depends on it): the function itself, marked, or ``providers.Callable`` wrapping it."""
    if PROVIDER_MARKER_FAST:
        return _marked_provider(function)
    return providers.Callable(function)
