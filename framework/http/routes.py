"""Declaring HTTP routes: the decorators a controller's methods carry, the marks their
parameters carry (``http.Body``, ``http.Header``, ``http.Cookie``), and ``routes_of``,
which reads the routes of a controller class back.

Declaring is marking, nothing more: where each parameter comes from is planned when the
App is built (framework.http.plan), and nothing here knows aiohttp.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated, NamedTuple, TypeVar

__all__ = ["BODY", "ROUTES", "Body", "BodyMarker", "Cookie", "Header", "Route", "RouteFunction",
           "delete", "get", "patch", "post", "put", "route", "route_status", "routes_of"]

#: the attribute of a controller method that lists its Routes
ROUTES = "__fw_routes__"

RouteFunction = TypeVar("RouteFunction", bound=Callable[..., object])


class Route(NamedTuple):
    """One route a method declares: ``method path``, answered with ``status`` (None: 200)."""

    method: str
    path: str
    status: int | None


def route(method: str, path: str, *, status: int | None = None
          ) -> Callable[[RouteFunction], RouteFunction]:
    """Serve the decorated controller method at ``method path`` (decorators stack); ``status``
    is the answer's status when the method returns a value (default 200, None: 204)."""
    if not path.startswith("/"):
        raise ValueError(f"route path {path!r} must start with '/'")
    if status is not None and not 200 <= status < 600:
        raise ValueError(f"route status {status} is no HTTP status between 200 and 599")

    def mark(func: RouteFunction) -> RouteFunction:
        func.__dict__.setdefault(ROUTES, []).append(Route(method.upper(), path, status))
        return func
    return mark


def get(path: str, *, status: int | None = None) -> Callable[[RouteFunction], RouteFunction]:
    """``route("GET", ...)``; every GET route answers HEAD too."""
    return route("GET", path, status=status)


def post(path: str, *, status: int | None = None) -> Callable[[RouteFunction], RouteFunction]:
    return route("POST", path, status=status)


def put(path: str, *, status: int | None = None) -> Callable[[RouteFunction], RouteFunction]:
    return route("PUT", path, status=status)


def patch(path: str, *, status: int | None = None) -> Callable[[RouteFunction], RouteFunction]:
    return route("PATCH", path, status=status)


def delete(path: str, *, status: int | None = None) -> Callable[[RouteFunction], RouteFunction]:
    return route("DELETE", path, status=status)


def routes_of(controller: type) -> list[tuple[str, str, Callable[..., object]]]:
    """The (method, path, function) routes of a controller class, inherited ones included."""
    members: dict[str, object] = {}
    for klass in reversed(controller.__mro__):
        members.update(vars(klass))
    return [(method, path, member) for name, member in members.items()
            if not name.startswith("__") and callable(member)
            for method, path, _ in getattr(member, ROUTES, ())]


def route_status(func: Callable[..., object], method: str, path: str) -> int | None:
    """The ``status=`` the route decorator gave ``method path`` of ``func``."""
    return next((mark.status for mark in getattr(func, ROUTES, ())
                 if (mark.method, mark.path) == (method, path)), None)


@dataclasses.dataclass(frozen=True)
class Header:
    """``Annotated[str, http.Header()]``: the header named like the parameter (``_`` as ``-``),
    or ``http.Header("X-Request-Id")``."""

    name: str | None = None


@dataclasses.dataclass(frozen=True)
class Cookie:
    """``Annotated[str, http.Cookie()]``: the cookie of the parameter's name, or the one named."""

    name: str | None = None


class BodyMarker:
    """The mark ``http.Body[T]`` puts on a parameter: the JSON request body, as T."""

    def __repr__(self) -> str:
        return "http.Body"


BODY = BodyMarker()

_Converted = TypeVar("_Converted")

#: ``body: http.Body[NewUser]`` binds the JSON request body, converted into ``NewUser`` (which
#: is the parameter's type to a type checker too).
Body = Annotated[_Converted, BODY]
