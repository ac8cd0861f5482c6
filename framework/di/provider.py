"""``provide()``: how a module declares a provider, the scopes a provider can have, and the
declaration that places a provider in a module."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Literal

Scope = Literal["singleton", "transient", "request"]
SCOPES: tuple[str, ...] = ("singleton", "transient", "request")

_UNSET = object()


@dataclass(frozen=True, eq=False)
class ProviderSpec:
    """One declared provider: ``token`` is built from ``target`` according to ``kind``.

    ``kind`` is "class" (autowired constructor), "value" (given as is) or "factory"
    (a function with autowired parameters; a generator function is a resource).
    """

    token: Hashable
    kind: Literal["class", "value", "factory"]
    target: object
    scope: Scope = "singleton"


@dataclass(eq=False)
class Declaration:
    """A provider spec placed in a module: ``lookup`` is what that module can see."""

    spec: ProviderSpec
    owner: str
    lookup: Callable[[Hashable], Declaration | None]
    exported: bool = False

    @property
    def token(self) -> Hashable:
        return self.spec.token

    @property
    def scope(self) -> str:
        return self.spec.scope


def provide(token: Hashable, *, use_class: type | object = _UNSET, use_value: object = _UNSET,
            use_factory: Callable[..., object] | object = _UNSET,
            scope: Scope = "singleton") -> ProviderSpec:
    """Declare how ``token`` is provided: exactly one of use_class, use_value, use_factory.

    With none of them, ``token`` must be a class and is built from its own constructor.
    """
    given = {name: value for name, value in (("use_class", use_class), ("use_value", use_value),
                                              ("use_factory", use_factory)) if value is not _UNSET}
    if len(given) > 1:
        raise TypeError(f"provide({token_name(token)}): give one of use_class, use_value, "
                        f"use_factory, not {' and '.join(given)}")
    if scope not in SCOPES:
        raise TypeError(f"provide({token_name(token)}): scope must be one of "
                        f"{', '.join(SCOPES)}, got {scope!r}")
    if "use_value" in given:
        if scope != "singleton":
            raise TypeError(f"provide({token_name(token)}, use_value=...): a value is one "
                            f"object, its scope cannot be {scope!r}")
        return ProviderSpec(token, "value", use_value, scope)
    if "use_factory" in given:
        if not callable(use_factory):
            raise TypeError(f"provide({token_name(token)}): use_factory must be callable, "
                            f"got {use_factory!r}")
        return ProviderSpec(token, "factory", use_factory, scope)
    target = given.get("use_class", token)
    if not isinstance(target, type):
        raise TypeError(f"provide({token_name(token)}): use_class must be a class, "
                        f"got {target!r}")
    return ProviderSpec(token, "class", target, scope)


def as_spec(entry: object, scope: Scope = "singleton") -> ProviderSpec:
    """A ``providers`` list entry as a spec: a class stands for ``provide(cls)``."""
    if isinstance(entry, ProviderSpec):
        return entry
    if isinstance(entry, type):
        return ProviderSpec(entry, "class", entry, scope)
    raise TypeError(f"a provider is a class or provide(...), got {entry!r}")


def token_name(token: object) -> str:
    """How messages name a token: a class or function by its name, anything else by its repr."""
    if isinstance(token, type) or callable(token) and hasattr(token, "__name__"):
        if not getattr(token, "__args__", None):
            return str(token.__name__)
    return repr(token)
