"""Route handlers: the aiohttp handler of each route plan, and adding them to a router.

Each handler is built once, when routes are added: its binder (framework.http.binding),
the tokens it injects and whether its method is async are settled then, so a request only
binds, resolves and calls.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, cast

from aiohttp import web

from framework.di.resolver import Resolver
from framework.http.binding import request_binder
from framework.http.plan import RoutePlan
from framework.http.responses import to_response

__all__ = ["Handler", "RouteTable", "add_routes", "make_handler"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RouteTable(Protocol):
    """Where routes are registered: the server's router."""

    def add_route(self, method: str, path: str, handler: Handler) -> None: ...


def make_handler(app: Resolver, plan: RoutePlan) -> Handler:
    """The aiohttp handler of one route: bind by its plan, build the controller in a
    request scope, call."""
    request_scope, resolve, status = app.request_scope, app.get, plan.status
    controller, func = plan.controller, plan.function
    is_async = inspect.iscoroutinefunction(func)
    call_async = cast(Callable[..., Awaitable[object]], func)  # when is_async

    if not plan.params and is_async:
        async def handle_plain(request: web.Request) -> web.StreamResponse:
            with request_scope():
                result = await call_async(resolve(controller))
            return to_response(result, status)
        return handle_plain

    bind = request_binder(plan)
    injected = [(param.name, param.type) for param in plan.injected]

    async def handle(request: web.Request) -> web.StreamResponse:
        kwargs = await bind(request)
        with request_scope():
            for name, token in injected:
                kwargs[name] = resolve(token)
            if is_async:
                result = await call_async(resolve(controller), **kwargs)
            else:
                result = func(resolve(controller), **kwargs)
        return to_response(result, status)
    return handle


def add_routes(router: RouteTable, app: Resolver, plans: Sequence[RoutePlan]) -> None:
    """Register the route of every plan on ``router``; a GET route answers HEAD too, unless
    its controller serves HEAD at that path itself."""
    declared = {(plan.controller, plan.method, plan.path) for plan in plans}
    for plan in plans:
        handler = make_handler(app, plan)
        router.add_route(plan.method, plan.path, handler)
        if plan.method == "GET" and (plan.controller, "HEAD", plan.path) not in declared:
            router.add_route("HEAD", plan.path, handler)
