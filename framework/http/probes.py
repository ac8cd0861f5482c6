"""Health probes: ``GET /healthz`` answers while the process runs, ``GET /readyz`` while it
takes new work (503 once it drains), for load balancers and orchestrators.

They are fw's own routes: no dependency injection, no request scope, none of the app's
middlewares (an auth middleware must not fail a probe), and they are not app requests: they
count neither toward max_requests nor in ``fw server:status``'s requests.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import hdrs, web

from framework.config import FrameworkConfig
from framework.errors import DeclarationError
from framework.http.responses import JsonResponse, error_response
from framework.http.router import Router

__all__ = ["HEALTHY", "Probes"]

HEALTHY = b'{"status": "ok"}'


class Probes:
    """The two probe handlers of one HttpServer; ``answered`` counts the probes served."""

    def __init__(self, draining: Callable[[], bool]) -> None:
        self._draining = draining
        self.answered = 0

    def add_routes(self, router: Router, config: FrameworkConfig) -> None:
        """GET and HEAD at health_path and ready_path (an empty path: that probe is off).
        A method the app already routes at that path keeps the app's handler."""
        for path, probe in ((config.health_path, self.health), (config.ready_path, self.ready)):
            if not path:
                continue
            for method in (hdrs.METH_GET, hdrs.METH_HEAD):
                try:
                    router.add_route(method, path, probe, wrap=False)
                except DeclarationError:  # the app's own probe answers there
                    continue

    async def health(self, request: web.Request) -> web.StreamResponse:
        """200 while this process runs: it could answer."""
        self.answered += 1
        return JsonResponse(HEALTHY)

    async def ready(self, request: web.Request) -> web.StreamResponse:
        """200 while this process takes new work; 503 once it drains (it is stopping or
        being replaced), so a load balancer sends the next requests elsewhere."""
        self.answered += 1
        if self._draining():
            return error_response(503, "draining: this process takes no new work")
        return JsonResponse(HEALTHY)
