"""HTTP controllers: route decorators, parameter binding plans, return values, JSON errors.

A controller is a class whose methods carry ``@http.get(path)`` and friends. Everything a
request needs is worked out once, when the router is built: each parameter gets a binder
(path, query, body, request or container), so serving a request inspects no signature.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import re
import traceback
import typing
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar

import orjson
from aiohttp import web

from framework import compat
from framework.convert import (
    InvalidInput,
    from_json,
    parse_string,
    string_parser,
    type_hints,
    type_name,
)
from framework.di.resolver import Resolver
from framework.json_body import MAX_DEPTH, nested_too_deep, require_json_content_type
from framework.unavailable import ServiceUnavailable

logger = logging.getLogger("framework.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_ROUTES = "__fw_routes__"
_PATH_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_MISSING = inspect.Parameter.empty

RouteFunction = TypeVar("RouteFunction", bound=Callable[..., Any])


# -- declaring routes ------------------------------------------------------------------------

def route(method: str, path: str) -> Callable[[RouteFunction], RouteFunction]:
    """Serve the decorated controller method at ``method path`` (decorators stack)."""
    if not path.startswith("/"):
        raise ValueError(f"route path {path!r} must start with '/'")

    def mark(func: RouteFunction) -> RouteFunction:
        func.__dict__.setdefault(_ROUTES, []).append((method.upper(), path))
        return func
    return mark


def get(path: str) -> Callable[[RouteFunction], RouteFunction]:
    return route("GET", path)


def post(path: str) -> Callable[[RouteFunction], RouteFunction]:
    return route("POST", path)


def put(path: str) -> Callable[[RouteFunction], RouteFunction]:
    return route("PUT", path)


def patch(path: str) -> Callable[[RouteFunction], RouteFunction]:
    return route("PATCH", path)


def delete(path: str) -> Callable[[RouteFunction], RouteFunction]:
    return route("DELETE", path)


class _BodyMarker:
    def __repr__(self) -> str:
        return "http.Body"


_BODY = _BodyMarker()


_Converted = TypeVar("_Converted")

#: ``body: http.Body[NewUser]`` binds the JSON request body, converted into ``NewUser`` (which
#: is the parameter's type to a type checker too).
Body = Annotated[_Converted, _BODY]


def routes_of(controller: type) -> list[tuple[str, str, Callable[..., Any]]]:
    """The (method, path, function) routes of a controller class, inherited ones included."""
    members: dict[str, Any] = {}
    for klass in reversed(controller.__mro__):
        members.update(vars(klass))
    return [(method, path, member) for name, member in members.items()
            if not name.startswith("__") for method, path in getattr(member, _ROUTES, ())]


# -- binding plans ---------------------------------------------------------------------------

#: (where, field, problem) of each input that does not fit: InvalidInput's errors
BindErrors = list[tuple[str, str, str]]
Binder = Callable[[web.Request, dict[str, Any], BindErrors], None]


def _path_binder(name: str, tp: Any) -> Binder:
    parse = string_parser(tp)
    if parse is None:
        raise TypeError(f"path parameter {name!r} is annotated {type_name(tp)}: "
                        "use str, int, float, bool or an Enum")

    def bind(request: web.Request, kwargs: dict[str, Any], errors: BindErrors) -> None:
        try:
            kwargs[name] = parse_string(parse, tp, request.match_info[name])
        except ValueError as error:
            errors.append(("path", name, str(error)))
    return bind


def _query_binder(name: str, tp: Any, default: Any) -> Binder | None:
    """The binder of query parameter ``name``; None when ``tp`` is no value type (injected)."""
    item_type = typing.get_args(tp)[0] if typing.get_origin(tp) is list else None
    parse = string_parser(item_type if item_type is not None else tp)
    if parse is None:
        return None

    def bind(request: web.Request, kwargs: dict[str, Any], errors: BindErrors) -> None:
        query = request.query
        if name not in query:
            if default is _MISSING:
                errors.append(("query", name, "missing"))
            return
        try:
            if item_type is not None:
                kwargs[name] = [parse_string(parse, item_type, text)
                                for text in query.getall(name)]
            else:
                kwargs[name] = parse_string(parse, tp, query[name])
        except ValueError as error:
            errors.append(("query", name, str(error)))
    return bind


@dataclasses.dataclass
class BindingPlan:
    """How one controller method gets its arguments; built once per route."""

    binders: list[Binder]
    body: tuple[str, Any] | None
    injected: list[tuple[str, Any]]
    request_params: list[str]

    @classmethod
    def for_route(cls, func: Callable[..., Any], path: str) -> BindingPlan:
        hints = type_hints(func)
        path_names = set(_PATH_PARAM.findall(path))
        plan = cls([], None, [], [])
        for param in list(inspect.signature(func).parameters.values())[1:]:
            tp = hints.get(param.name, _MISSING)
            plan._add(param, tp, path_names)
        missing = path_names - {p for p in inspect.signature(func).parameters}
        if missing:
            raise TypeError(f"{func.__qualname__}: path {path!r} has "
                            f"{{{sorted(missing)[0]}}} but no parameter of that name")
        return plan

    def _add(self, param: inspect.Parameter, tp: Any, path_names: set[str]) -> None:
        name = param.name
        if name in path_names:
            self.binders.append(_path_binder(name, tp))
        elif typing.get_origin(tp) is Annotated and _BODY in typing.get_args(tp)[1:]:
            self.body = (name, typing.get_args(tp)[0])
        elif isinstance(tp, type) and issubclass(tp, web.BaseRequest):
            self.request_params.append(name)
        elif (query_binder := _query_binder(name, tp, param.default)) is not None:
            self.binders.append(query_binder)
        else:
            self.injected.append((name, tp))

    @property
    def is_empty(self) -> bool:
        return not (self.binders or self.body or self.injected or self.request_params)

    async def bind(self, request: web.Request) -> dict[str, Any]:
        """Arguments from the request (not the injected ones); InvalidInput names each fault."""
        kwargs: dict[str, Any] = {}
        errors: BindErrors = []
        for binder in self.binders:
            binder(request, kwargs, errors)
        for name in self.request_params:
            kwargs[name] = request
        if self.body is not None:
            await _bind_body(request, self.body, kwargs, errors)
        if errors:
            raise InvalidInput(errors)
        return kwargs


async def _bind_body(request: web.Request, body: tuple[str, Any], kwargs: dict[str, Any],
                     errors: BindErrors) -> None:
    """The JSON body as the ``(name, type)`` parameter ``body``, or what is wrong with it."""
    name, tp = body
    require_json_content_type(request)
    raw = await request.read()
    if not raw:
        errors.append(("body", "", "missing: send a JSON body"))
        return
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        errors.append(("body", "", f"malformed JSON: {error}"))
        return
    if nested_too_deep(raw, data):
        errors.append(("body", "", f"nested deeper than {MAX_DEPTH} levels"))
        return
    found: list[tuple[str, str]] = []
    value = from_json(tp, data, "", found)
    errors.extend(("body", field, problem) for field, problem in found)
    kwargs[name] = value


# -- handlers and responses ------------------------------------------------------------------

class JsonResponse(web.Response):
    """``web.Response(body=body, status=status, content_type="application/json")``, built
    without parsing those arguments again where this aiohttp allows: fw answers most
    requests with one.
    """

    if TYPE_CHECKING:
        def __init__(self, body: bytes, status: int = 200) -> None: ...
    else:
        __init__ = compat.init_json_response


def to_response(result: Any) -> web.StreamResponse:
    """dict, list, dataclass -> JSON; str -> text; None -> 204; an aiohttp response as is."""
    if isinstance(result, str):
        return web.Response(text=result)
    if result is None:
        return web.Response(status=204)
    if not isinstance(result, (dict, list)) and isinstance(result, web.StreamResponse):
        return result
    return JsonResponse(orjson.dumps(result))


def make_handler(app: Resolver, controller: type, func: Callable[..., Any],
                 path: str) -> Handler:
    """The aiohttp handler of one route: bind, build the controller in a request scope, call."""
    plan = BindingPlan.for_route(func, path)
    request_scope, resolve = app.request_scope, app.get
    is_async = inspect.iscoroutinefunction(func)

    if plan.is_empty and is_async:
        async def handle_plain(request: web.Request) -> web.StreamResponse:
            with request_scope():
                result = await func(resolve(controller))
            return to_response(result)
        return handle_plain

    async def handle(request: web.Request) -> web.StreamResponse:
        kwargs = await plan.bind(request)
        with request_scope():
            for name, token in plan.injected:
                kwargs[name] = resolve(token)
            result = func(resolve(controller), **kwargs)
            if is_async:
                result = await result
        return to_response(result)
    return handle


class RouteTable(Protocol):
    """Where routes are registered: the server's router."""

    def add_route(self, method: str, path: str, handler: Handler) -> None: ...


def add_routes(router: RouteTable, app: Resolver, controllers: list[type]) -> None:
    """Register every route of ``controllers`` on ``router``."""
    for controller in controllers:
        for method, path, func in routes_of(controller):
            router.add_route(method, path, make_handler(app, controller, func, path))


def error_response(status: int, detail: str, **extra: Any) -> web.Response:
    """The JSON body of every error fw answers: status, error (reason), detail, extras."""
    body = {"status": status, "error": HTTPStatus(status).phrase, "detail": detail, **extra}
    return JsonResponse(orjson.dumps(body), status)


def response_for_error(request: web.Request, error: Exception, debug: bool,
                       max_body_size: int) -> web.StreamResponse:
    """fw's JSON answer to ``error``; re-raises redirects and errors that already are JSON.

    A 500 is logged with its traceback; the answer shows it only when ``debug`` is on.
    A service that is down (ServiceUnavailable) is a 503 naming it, logged where it failed.
    """
    if isinstance(error, InvalidInput):
        fields = [{"in": where, "field": field, "error": problem}
                  for where, field, problem in error.errors]
        return error_response(400, f"invalid request: {error}", errors=fields)
    if isinstance(error, web.HTTPException):
        if error.status < 400 or error.content_type == "application/json":
            raise error
        return _http_error(request, error, max_body_size)
    if isinstance(error, ServiceUnavailable):
        return error_response(503, str(error), **error.to_json())
    logger.error("%s %s failed", request.method, request.path, exc_info=error)
    if debug:
        return error_response(500, f"{type(error).__name__}: {error}",
                              traceback="".join(traceback.format_exception(error)))
    return error_response(500, "the server failed to answer; see its log")


def _http_error(request: web.Request, error: web.HTTPException,
                max_body_size: int) -> web.Response:
    headers = {}
    if isinstance(error, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(error.allowed_methods))
        detail = f"{request.method} is not allowed on {request.path}; allowed: {allowed}"
        headers["Allow"] = ",".join(sorted(error.allowed_methods))
    elif isinstance(error, web.HTTPRequestEntityTooLarge):
        detail = f"request body is over the {max_body_size} byte limit"
    else:
        detail = error.text or error.reason
    response = error_response(error.status, detail)
    response.headers.update(headers)
    return response
