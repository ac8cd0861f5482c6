"""HTTP controllers: route decorators, binding by route plans, return values, JSON errors.

A controller is a class whose methods carry ``@http.get(path)`` and friends. Where each
parameter comes from is decided once, when the App is built (framework.http.plan), so
serving a request inspects no signature.
"""

from __future__ import annotations

import inspect
import logging
import traceback
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar

import orjson
from aiohttp import web

from framework import compat
from framework.di.resolver import Resolver
from framework.http.body import MAX_DEPTH, nested_too_deep, require_json_content_type
from framework.http.plan import BODY, ROUTES, Param, RoutePlan, plan_route
from framework.http.plan import Cookie as Cookie
from framework.http.plan import Header as Header
from framework.unavailable import ServiceUnavailable
from framework.values.convert import Field as Field
from framework.values.convert import InvalidInput, check_fields, dump_json, from_json

logger = logging.getLogger("framework.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

RouteFunction = TypeVar("RouteFunction", bound=Callable[..., object])


# -- declaring routes ------------------------------------------------------------------------

def route(method: str, path: str, *, status: int | None = None
          ) -> Callable[[RouteFunction], RouteFunction]:
    """Serve the decorated controller method at ``method path`` (decorators stack); ``status``
    is the answer's status when the method returns a value (default 200, None: 204)."""
    if not path.startswith("/"):
        raise ValueError(f"route path {path!r} must start with '/'")
    if status is not None and not 200 <= status < 600:
        raise ValueError(f"route status {status} is no HTTP status between 200 and 599")

    def mark(func: RouteFunction) -> RouteFunction:
        func.__dict__.setdefault(ROUTES, []).append((method.upper(), path, status))
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


_Converted = TypeVar("_Converted")

#: ``body: http.Body[NewUser]`` binds the JSON request body, converted into ``NewUser`` (which
#: is the parameter's type to a type checker too).
Body = Annotated[_Converted, BODY]


def routes_of(controller: type) -> list[tuple[str, str, Callable[..., Any]]]:
    """The (method, path, function) routes of a controller class, inherited ones included."""
    members: dict[str, Any] = {}
    for klass in reversed(controller.__mro__):
        members.update(vars(klass))
    return [(method, path, member) for name, member in members.items()
            if not name.startswith("__") for method, path, _ in getattr(member, ROUTES, ())]


def plans_of(controllers: list[type]) -> list[RoutePlan]:
    """The binding plan of every route of ``controllers``, in declaration order."""
    return [plan_route(func, method, path) for controller in controllers
            for method, path, func in routes_of(controller)]


# -- binding ---------------------------------------------------------------------------------

async def bind(plan: RoutePlan, request: web.Request) -> dict[str, Any]:
    """Arguments from the request (not the injected ones); InvalidInput names each fault."""
    errors: list[tuple[str, str, str]] = []
    kwargs = plan.bind_texts(request, errors)
    if plan.body is not None:
        await _bind_body(request, plan.body, kwargs, errors)
    if errors:
        raise InvalidInput(errors)
    return kwargs


async def _bind_body(request: web.Request, body: Param, kwargs: dict[str, Any],
                     errors: list[tuple[str, str, str]]) -> None:
    """The JSON body as the parameter ``body``, or what is wrong with it."""
    require_json_content_type(request)
    raw = await request.read()
    if not raw:
        if body.required:
            errors.append(("body", "", "missing: send a JSON body"))
        else:
            kwargs[body.name] = body.default
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
    value = from_json(body.type, data, "", found)
    if not found and body.constraints:
        problem = check_fields(body.constraints, value)
        if problem is not None:
            found.append(("", problem))
    errors.extend(("body", field, problem) for field, problem in found)
    kwargs[body.name] = value


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


def to_response(result: Any, status: int | None = None) -> web.StreamResponse:
    """dict, list, dataclass -> JSON; str -> text; None -> 204; an aiohttp response as is.

    ``status`` (the route's) replaces 200, or 204 for None. Decimals are written as strings,
    exactly; UUIDs, datetimes, dates and times as orjson writes them.
    """
    if isinstance(result, str):
        return web.Response(text=result, status=status or 200)
    if result is None:
        return web.Response(status=status or 204)
    if not isinstance(result, (dict, list)) and isinstance(result, web.StreamResponse):
        return result
    return JsonResponse(dump_json(result), status or 200)


def make_handler(app: Resolver, controller: type, plan: RoutePlan,
                 func: Callable[..., Any]) -> Handler:
    """The aiohttp handler of one route: bind by its plan, build the controller in a
    request scope, call."""
    request_scope, resolve, status = app.request_scope, app.get, plan.status
    is_async = inspect.iscoroutinefunction(func)

    if not plan.params and is_async:
        async def handle_plain(request: web.Request) -> web.StreamResponse:
            with request_scope():
                result = await func(resolve(controller))
            return to_response(result, status)
        return handle_plain

    injected = [(param.name, param.type) for param in plan.injected]

    async def handle(request: web.Request) -> web.StreamResponse:
        kwargs = await bind(plan, request)
        with request_scope():
            for name, token in injected:
                kwargs[name] = resolve(token)
            result = func(resolve(controller), **kwargs)
            if is_async:
                result = await result
        return to_response(result, status)
    return handle


class RouteTable(Protocol):
    """Where routes are registered: the server's router."""

    def add_route(self, method: str, path: str, handler: Handler) -> None: ...


def add_routes(router: RouteTable, app: Resolver, controllers: list[type]) -> None:
    """Register every route of ``controllers`` on ``router``; a GET route answers HEAD too,
    unless the controller serves HEAD at that path itself."""
    for controller in controllers:
        routes = routes_of(controller)
        declared = {(method, path) for method, path, _ in routes}
        for method, path, func in routes:
            handler = make_handler(app, controller, plan_route(func, method, path), func)
            router.add_route(method, path, handler)
            if method == "GET" and ("HEAD", path) not in declared:
                router.add_route("HEAD", path, handler)


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
