"""CORS from FrameworkConfig.cors_origins: browsers on a listed origin may call the app.

A preflight (OPTIONS with Origin and Access-Control-Request-Method) from a listed origin is
answered 204 with the origin, methods, requested headers and max-age; from any other origin
403, with no CORS header. Other responses to a listed origin carry
Access-Control-Allow-Origin; responses to other origins carry none, so the browser hides them.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import hdrs, web

from framework.http.responses import error_response

__all__ = ["ALLOWED_METHODS", "ANY_ORIGIN", "MAX_AGE", "Cors"]

ANY_ORIGIN = "*"
ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
MAX_AGE = 600  # seconds a browser may reuse a preflight's answer


class Cors:
    """The CORS answers for a set of allowed origins (``"*"``: any origin)."""

    def __init__(self, origins: Iterable[str]) -> None:
        self.origins = frozenset(origin.rstrip("/") for origin in origins)
        self.any_origin = ANY_ORIGIN in self.origins

    def allowed(self, origin: str) -> str | None:
        """The Access-Control-Allow-Origin value for ``origin``; None when it is not listed."""
        if self.any_origin:
            return ANY_ORIGIN
        return origin if origin in self.origins else None

    def preflight(self, request: web.Request) -> web.StreamResponse | None:
        """The answer to a preflight request; None when ``request`` is no preflight."""
        origin = request.headers.get(hdrs.ORIGIN)
        if (request.method != hdrs.METH_OPTIONS or origin is None
                or hdrs.ACCESS_CONTROL_REQUEST_METHOD not in request.headers):
            return None
        allowed = self.allowed(origin)
        if allowed is None:
            return error_response(403, f"origin {origin} is not allowed (cors_origins)")
        response = web.Response(status=204)
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = allowed
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = ALLOWED_METHODS
        requested = request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_HEADERS)
        if requested:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = requested
        response.headers[hdrs.ACCESS_CONTROL_MAX_AGE] = str(MAX_AGE)
        response.headers[hdrs.VARY] = "Origin"
        return response

    def mark(self, request: web.Request, response: web.StreamResponse) -> None:
        """Let a listed origin read ``response`` (one not yet sent: a WebSocket's is)."""
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is None or response.prepared:
            return
        allowed = self.allowed(origin)
        if allowed is not None:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = allowed
        if not self.any_origin:  # the answer depends on the origin: caches must key on it
            response.headers.add(hdrs.VARY, "Origin")
