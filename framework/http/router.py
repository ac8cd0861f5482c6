"""Route resolution for HttpServer: a dict for static paths, compiled patterns for dynamic ones.

A request's path is looked up among the static paths first, then matched against the dynamic
patterns in the order they were added (aiohttp's ``{name}`` and ``{name:regex}`` syntax). A
path served for other methods only gets that path's 405 handler (it raises 405 with the
methods the path allows; one handler per path, so metrics and the access log name the path's
template); a path no route matches gets the no-route handler, which raises 404. Each match
is an aiohttp UrlMappingMatchInfo, so ``request.match_info`` and ``request.app`` work as on
an aiohttp Application; a static route's is built once and shared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from re import Match, Pattern

from aiohttp import hdrs, web

from framework.compat.aiohttp import set_match_info
from framework.errors import DeclarationError
from framework.http.handlers import Handler

__all__ = ["Router", "route_template"]

_ANY = hdrs.METH_ANY
_Wrap = Callable[[Handler], Handler]
_Routes = dict[str, tuple[Handler, web.ResourceRoute]]
# the resource of every request no route serves: route_template tells it from a route
_NO_ROUTE = web.DynamicResource("/{path:.*}")


def _unquote(value: str) -> str:
    """A path parameter as aiohttp gives it: the match is on the path with %2F kept quoted."""
    if "%" not in value:
        return value
    return value.replace("%2F", "/").replace("%25", "%")


class Router:
    """``add_route(method, path, handler)`` once; ``resolve(request)`` per request."""

    def __init__(self, web_app: web.Application, wrap: _Wrap) -> None:
        self._web_app = web_app
        self._wrap = wrap
        self._static: dict[str, dict[str, tuple[Handler, web.UrlMappingMatchInfo]]] = {}
        self._static_refusals: dict[str, tuple[Handler, web.UrlMappingMatchInfo]] = {}
        # each pattern: its routes by method, and its 405 handler
        self._dynamic: list[tuple[Pattern[str], _Routes, tuple[Handler, web.ResourceRoute]]] = []
        self._no_route = wrap(self._answer_no_route)
        self._no_route_info = self._match_info({}, web.ResourceRoute(_ANY, self._no_route,
                                                                     _NO_ROUTE))

    def add_route(self, method: str, path: str, handler: Handler, *, wrap: bool = True) -> None:
        """Serve ``handler`` at ``method path``, passed through the router's wrap unless
        ``wrap`` is False (fw's own health probes skip the app's middlewares)."""
        method = method.upper()
        if "{" in path or "}" in path:
            dynamic = web.DynamicResource(path)
            pattern = dynamic.get_info()["pattern"]
            routes = next((r for p, r, _ in self._dynamic if p.pattern == pattern.pattern), None)
            if routes is None:
                routes = {}
                self._dynamic.append((pattern, routes, self._refusal(dynamic)))
            self._check_new(routes, method, path)
            wrapped = self._wrap(handler) if wrap else handler
            routes[method] = (wrapped, web.ResourceRoute(method, wrapped, dynamic))
            return
        plain = web.PlainResource(path)
        if plain.canonical not in self._static_refusals:
            refuse, refused = self._refusal(plain)
            self._static_refusals[plain.canonical] = refuse, self._match_info({}, refused)
        static = self._static.setdefault(plain.canonical, {})
        self._check_new(static, method, path)
        wrapped = self._wrap(handler) if wrap else handler
        static[method] = (wrapped, self._match_info({}, web.ResourceRoute(method, wrapped, plain)))

    @staticmethod
    def _check_new(routes: Mapping[str, object], method: str, path: str) -> None:
        if method in routes:
            raise DeclarationError(f"two routes for {method} {path}: "
                                   "one handler per method and path")

    def _match_info(self, match: dict[str, str], route: web.ResourceRoute
                    ) -> web.UrlMappingMatchInfo:
        info = web.UrlMappingMatchInfo(match, route)
        info.add_app(self._web_app)
        info.freeze()
        return info

    def _refusal(self, resource: web.AbstractResource) -> tuple[Handler, web.ResourceRoute]:
        """The 405 handler of one path or pattern: a handler of its own, so the request is
        counted and logged under that path's template."""
        async def refuse_method(request: web.Request) -> web.StreamResponse:
            return await self._answer_no_route(request)
        handler = self._wrap(refuse_method)
        return handler, web.ResourceRoute(_ANY, handler, resource)

    def resolve(self, request: web.Request) -> Handler:
        """The handler for ``request``; sets its match_info (the path's 405 handler when only
        other methods are served there, the no-route handler when nothing is)."""
        path = request.rel_url.path_safe
        method = request.method
        refusal = None
        static = self._static.get(path)
        if static is not None:
            served = static.get(method) or static.get(_ANY)
            if served is not None:
                set_match_info(request, served[1])
                return served[0]
            refusal = self._static_refusals[path]
        for pattern, routes, refuse in self._dynamic:
            match = pattern.fullmatch(path)
            if match is not None:
                found = routes.get(method) or routes.get(_ANY)
                if found is not None:
                    set_match_info(request, self._match_info(_params(match), found[1]))
                    return found[0]
                if refusal is None:
                    refusal = refuse[0], self._match_info(_params(match), refuse[1])
        handler, info = refusal or (self._no_route, self._no_route_info)
        set_match_info(request, info)
        return handler

    def allowed_methods(self, path: str) -> set[str]:
        """Every method some route serves at ``path`` (its percent-encoded form)."""
        allowed = set(self._static.get(path, ()))
        for pattern, routes, _ in self._dynamic:
            if pattern.fullmatch(path) is not None:
                allowed |= routes.keys()
        return allowed

    def templates(self) -> dict[Handler, str]:
        """Each route's handler, and each path's 405 handler, with its path template
        (``/users/{id}``), as metrics name it."""
        found: dict[Handler, str] = {}
        for methods in (*self._static.values(), self._static_refusals):
            for handler, info in methods.values():
                found[handler] = _template(info.route)
        for _, routes, refusal in self._dynamic:
            for handler, route in (*routes.values(), refusal):
                found[handler] = _template(route)
        return found

    async def _answer_no_route(self, request: web.Request) -> web.StreamResponse:
        allowed = self.allowed_methods(request.rel_url.path_safe)
        if allowed:
            raise web.HTTPMethodNotAllowed(request.method, allowed)
        raise web.HTTPNotFound(text=f"no route for {request.method} {request.path}")


def _params(match: Match[str]) -> dict[str, str]:
    """A dynamic route's path parameters, as aiohttp gives them."""
    return {name: _unquote(value) for name, value in match.groupdict().items()}


def _template(route: web.AbstractRoute) -> str:
    resource = route.resource  # a resource with no routes of aiohttp's own is falsy
    return resource.canonical if resource is not None else ""


def route_template(request: web.BaseRequest) -> str | None:
    """The template of the route that served ``request`` (``/hello/{name}``, never the raw
    path), or of the path a 405 refused a method at; None when no route did (404, or a
    request too malformed to route)."""
    if not isinstance(request, web.Request):
        return None
    try:
        info: web.UrlMappingMatchInfo | None = request.match_info
    except AssertionError:  # aiohttp asserts it was set: aiohttp answered before routing
        return None
    if info is None or info.route.resource is _NO_ROUTE:
        return None
    return _template(info.route) or None
