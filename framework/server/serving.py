"""HttpServer: the app's aiohttp server on an already-bound socket, in any one process.

The router is built once, in the constructor. The lifecycle verbs are what a process that
serves needs: ``start(sock)``, ``stop_accepting()`` (close the listening socket, in this
process only), ``drain(timeout)`` (answer what arrives on open connections for a grace,
with ``Connection: close``, then close them and WebSockets; cancel what is still running
at the timeout).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from functools import partial, update_wrapper
from typing import Any, cast

from aiohttp import hdrs, web

from framework import http
from framework.compat import aiohttp as compat
from framework.config import FrameworkConfig
from framework.http.api_docs import ApiDocs
from framework.http.cors import Cors
from framework.http.metrics import HttpMetrics
from framework.http.probes import Probes
from framework.http.router import Router
from framework.http.transport.accepting import Acceptor
from framework.http.transport.balance import Seat
from framework.http.transport.connections import ConnectionGuard
from framework.http.transport.logs import AccessLog
from framework.http.transport.protocol import SERVER_NAME, Connection
from framework.metrics import Metrics
from framework.ratelimit import RateLimitedLog
from framework.rpc.dispatcher import RpcDispatcher
from framework.rpc.endpoint import RpcEndpoint
from framework.rpc.limits import RpcLimits
from framework.server.abc import ServedApp

logger = logging.getLogger("framework.server")

MIN_DRAIN_GRACE = 1.0  # seconds: even without keep-alive, a just-accepted connection's request
DRAIN_POLL = 0.01      # seconds between two looks at whether a draining server's connections closed
access_logger = logging.getLogger("framework.access")


class HttpServer:
    """Serves ``app``'s HTTP controllers and ``/rpc``; counts requests served and in flight.

    aiohttp's low-level ``web.Server`` calls ``_serve`` for every request: fw's own router
    finds the handler, so a request pays for no Application dispatch, and for no middleware
    chain unless the app's modules declare middlewares.
    """

    def __init__(self, app: ServedApp, config: FrameworkConfig,
                 scrape: Callable[[], Awaitable[bytes]] | None = None,
                 first_answer: Callable[[], None] | None = None) -> None:
        """``scrape`` gathers the whole server's /metrics (a worker asks its master); without
        it, this process's own figures are the server's (workers=0). ``first_answer`` is
        called once, as the first request (not a health probe) is answered: before its
        response is written, unless its handler wrote it itself (a stream, a WebSocket)."""
        self.app = app
        self.config = config
        self._first_answer = first_answer
        self.in_flight = 0
        self.draining = False  # once set, every response closes its connection
        self._server: web.Server | None = None
        self._acceptor: Acceptor | None = None
        self._guard: ConnectionGuard | None = None
        self._runner: web.ServerRunner | None = None
        # request.app, as aiohttp handlers and middlewares know it; routing is the router's
        self.web_app = web.Application(client_max_size=config.max_body_size)
        self.router = Router(self.web_app, self._with_middlewares(list(app.middlewares)))
        controllers = list(app.controllers)
        http.add_routes(self.router, app, app.route_plans)
        metrics: Metrics | None = app.get(Metrics) if config.metrics_path else None
        self.metrics = None if metrics is None else HttpMetrics(
            metrics, self.router.templates, lambda: self.in_flight)
        self.rpc: RpcEndpoint | None = None
        dispatcher = RpcDispatcher(app, controllers, RpcLimits.of(config), metrics,
                                   title=app.name)
        if dispatcher.actions:
            self.rpc = RpcEndpoint(dispatcher)
            self.rpc.add_routes(self.router)
        self.cors = Cors(config.cors_origins) if config.cors_origins else None
        self.probes = Probes(lambda: self.draining)
        self.probes.add_routes(self.router, config)
        if config.openapi_path:  # built once, from the route plans the router serves
            ApiDocs(app.route_plans, app.name, config.openapi_path).add_routes(self.router)
        if self.metrics is not None and metrics is not None:
            self.metrics.add_route(self.router, config.metrics_path, metrics, scrape)

    @property
    def requests_served(self) -> int:
        """The app's requests answered: health probes are not counted."""
        served = self._server.requests_count if self._server is not None else 0
        return served - self.probes.answered

    def _with_middlewares(self, middlewares: list[Any]) -> Callable[[http.Handler], http.Handler]:
        """How each route's handler is wrapped: the modules' middlewares, first outermost.

        Inside them, the handler's errors are already fw's JSON answer, so middlewares see
        (and may decorate) the response; what they raise is answered by ``_serve``.
        """
        for middleware in middlewares:
            if getattr(middleware, "__middleware_version__", None) != 1:
                raise TypeError(f"middleware {middleware!r} is an old-style aiohttp middleware "
                                "factory: decorate it with @aiohttp.web.middleware")

        def wrap(handler: http.Handler) -> http.Handler:
            if not middlewares:
                return handler
            handler = self._answering_errors(handler)
            for middleware in reversed(middlewares):
                handler = update_wrapper(partial(middleware, handler=handler), handler)
            return handler
        return wrap

    def _answering_errors(self, handler: http.Handler) -> http.Handler:
        """``handler`` with any error turned into fw's JSON answer."""
        debug, max_body_size = self.config.debug, self.config.max_body_size

        async def answering_errors(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except Exception as error:
                return http.response_for_error(request, error, debug, max_body_size)
        return update_wrapper(answering_errors, handler)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        """One request: route it, answer ``Expect``, run its handler; errors become JSON;
        CORS preflights are answered before routing, and responses marked for their origin."""
        cors = self.cors
        if cors is not None:
            preflight = cors.preflight(request)
            if preflight is not None:
                return preflight
        handler = self.router.resolve(request)
        if request.headers.get(hdrs.EXPECT):
            response = await self._answer_expect(request)
            if response is not None:
                return response
        metrics = self.metrics
        started = time.perf_counter() if metrics is not None else 0.0
        self.in_flight += 1
        try:
            response = await handler(request)
        except Exception as error:
            response = http.response_for_error(request, error, self.config.debug,
                                               self.config.max_body_size)
        finally:
            self.in_flight -= 1
        if self._first_answer is not None:
            self._answering(handler)
        if metrics is not None:
            metrics.observe(request.method, handler, response.status,
                            time.perf_counter() - started)
        if cors is not None:
            cors.mark(request, response)
        if self.draining:  # Connection: close, so the client's next request finds a live worker
            response.force_close()
        return response

    def _answering(self, handler: http.Handler) -> None:
        """The first answer to a request (health probes aside) is about to go out: say so."""
        first_answer = self._first_answer
        if first_answer is not None and getattr(handler, "__self__", None) is not self.probes:
            self._first_answer = None
            first_answer()

    async def _answer_expect(self, request: web.Request) -> web.StreamResponse | None:
        """``Expect: 100-continue``: a 413 at once when the announced body is over
        max_body_size, and the connection closes without waiting for a body the client
        was told not to send; else the route's answer (100 Continue)."""
        length = request.content_length
        if length is not None and length > self.config.max_body_size:
            refusal = http.error_response(
                413, f"request body is over the {self.config.max_body_size} byte limit")
            refusal.force_close()
            await compat.refuse_body(request, refusal)
            return refusal
        response = await request.match_info.expect_handler(request)
        await request.writer.drain()
        return response

    async def start(self, sock: socket.socket, seat: Seat | None = None) -> None:
        """Serve on ``sock``, a bound and listening socket, with the connection limits:
        keepalive_timeout, header_read_timeout, room made when descriptors run out. With
        ``seat`` (a worker on the shared socket), accepting is balanced over the workers."""
        config = self.config
        # the request factory makes web.Request, the type fw's router and handlers take
        serve = cast(Callable[[web.BaseRequest], Awaitable[web.StreamResponse]], self._serve)
        self._server = server = web.Server(serve, request_factory=self._request_factory())
        self._runner = web.ServerRunner(server, handle_signals=False,
                                        shutdown_timeout=config.graceful_shutdown_timeout)
        await self._runner.setup()
        connection = partial(
            Connection, server, loop=asyncio.get_running_loop(),
            keepalive_timeout=config.keepalive_timeout,
            access_log=access_logger if config.access_log else None,
            access_log_class=AccessLog, rejections=RateLimitedLog(logger))
        # every connection is a Connection: ``connection`` above is the only protocol factory
        self._guard = guard = ConnectionGuard(lambda: cast(list[Connection], server.connections),
                                              config.header_read_timeout)
        self._acceptor = Acceptor(sock, connection, lambda: len(server.connections),
                                  guard.make_room, seat)
        guard.start()
        self._acceptor.start()

    def _request_factory(self) -> compat.RequestFactory:
        """How aiohttp makes each request: answered with ``Server: fw``; with
        keepalive_timeout 0, with ``Connection: close`` (keep-alive off)."""
        return compat.request_factory(
            loop=asyncio.get_running_loop(), client_max_size=self.config.max_body_size,
            keep_alive=self.config.keepalive_timeout > 0, server_name=SERVER_NAME)

    async def stop_accepting(self) -> None:
        """Close the listening socket in this process; connections already open stay."""
        if self._guard is not None:
            self._guard.stop()
            self._guard = None
        if self._acceptor is not None:
            await self._acceptor.stop()
            self._acceptor = None

    def drain_grace(self, timeout: float) -> float:
        """How long a draining server answers on its open connections: keepalive_timeout (a
        connection idle that long is closed anyway), at least MIN_DRAIN_GRACE, at most half
        of ``timeout``, so that requests still running keep the other half."""
        return min(max(self.config.keepalive_timeout, MIN_DRAIN_GRACE), timeout / 2)

    async def drain(self, timeout: float) -> None:
        """Stop accepting; answer on open connections for a grace; cancel what outlives ``timeout``.

        For ``drain_grace(timeout)`` seconds every response says ``Connection: close``, so each
        client sends its next request on a fresh connection, to a live worker: no request
        meets a connection closing under it. Then what is idle closes, requests still running
        get the rest of ``timeout``. WebSockets close once their RPC calls are answered.
        """
        await self.stop_accepting()
        server = self._server
        if server is not None:
            self.draining = True
            closing = [self._close_connections(server, timeout)]
            if self.rpc is not None:
                closing.append(asyncio.wait_for(self.rpc.close(), timeout))
            results = await asyncio.gather(*closing, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception) and not isinstance(result, TimeoutError):
                    logger.error("draining failed: %r", result)
        if self._runner is not None:
            await self._runner.cleanup()

    async def _close_connections(self, server: web.Server, timeout: float) -> None:
        """Wait out the grace or until every connection closed after its last answer, then
        close the idle ones and give the busy ones what is left of ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        grace_ends = loop.time() + self.drain_grace(timeout)
        while server.connections and loop.time() < grace_ends:
            await asyncio.sleep(DRAIN_POLL)
        server.pre_shutdown()
        await server.shutdown(max(deadline - loop.time(), 0.0))
