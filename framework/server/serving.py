"""HttpServer: the app's aiohttp server on an already-bound socket, in any one process.

The router is built once, in the constructor. The lifecycle verbs are what a process that
serves needs: ``start(sock)``, ``stop_accepting()`` (close the listening socket, in this
process only), ``drain(timeout)`` (finish requests in flight, close idle keep-alive
connections and WebSockets, cancel what is still running at the timeout).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from functools import partial, update_wrapper
from typing import Any

from aiohttp import hdrs, web

from framework import http
from framework.rpc.dispatcher import RpcDispatcher
from framework.rpc.endpoint import RpcEndpoint
from framework.rpc.limits import RpcLimits
from framework.server.router import Router

logger = logging.getLogger("framework.server")

FIRST_REQUEST_GRACE = 1.0  # seconds a just-accepted connection gets to send its request
ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tfs'
access_logger = logging.getLogger("framework.access")


class HttpServer:
    """Serves ``app``'s HTTP controllers and ``/rpc``; counts requests served and in flight.

    aiohttp's low-level ``web.Server`` calls ``_serve`` for every request: fw's own router
    finds the handler, so a request pays for no Application dispatch, and for no middleware
    chain unless the app's modules declare middlewares.
    """

    def __init__(self, app: Any, config: Any) -> None:
        self.app = app
        self.config = config
        self.in_flight = 0
        self._server: web.Server | None = None
        self._site: web.SockSite | None = None
        self._runner: web.ServerRunner | None = None
        # request.app, as aiohttp handlers and middlewares know it; routing is the router's
        self.web_app = web.Application(client_max_size=config.max_body_size)
        self.router = Router(self.web_app, self._with_middlewares(list(app.middlewares)))
        controllers = list(app.controllers)
        http.add_routes(self.router, app, controllers)
        self.rpc: RpcEndpoint | None = None
        dispatcher = RpcDispatcher(app, controllers, RpcLimits.of(config))
        if dispatcher.actions:
            self.rpc = RpcEndpoint(dispatcher)
            self.rpc.add_routes(self.router)

    @property
    def requests_served(self) -> int:
        return self._server.requests_count if self._server is not None else 0

    def _with_middlewares(self, middlewares: list) -> Callable[[http.Handler], http.Handler]:
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
        """One request: route it, answer ``Expect``, run its handler; errors become JSON."""
        handler = self.router.resolve(request)
        if request.headers.get(hdrs.EXPECT):
            response = await request.match_info.expect_handler(request)
            await request.writer.drain()
            if response is not None:
                return response
        self.in_flight += 1
        try:
            return await handler(request)
        except Exception as error:
            return http.response_for_error(request, error, self.config.debug,
                                           self.config.max_body_size)
        finally:
            self.in_flight -= 1

    async def start(self, sock: socket.socket) -> None:
        """Serve on ``sock``, a bound and listening socket."""
        make_request = partial(web.Request, loop=asyncio.get_running_loop(),
                               client_max_size=self.config.max_body_size)
        self._server = web.Server(
            self._serve, request_factory=make_request,
            access_log=access_logger if self.config.access_log else None,
            access_log_format=ACCESS_LOG_FORMAT)
        self._runner = web.ServerRunner(self._server, handle_signals=False,
                                        shutdown_timeout=self.config.graceful_shutdown_timeout)
        await self._runner.setup()
        self._site = web.SockSite(self._runner, sock)
        await self._site.start()

    async def stop_accepting(self) -> None:
        """Close the listening socket in this process; connections already open stay."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def drain(self, timeout: float) -> None:
        """Let requests in flight finish for up to ``timeout`` seconds, then cancel the rest.

        Idle keep-alive connections close now, busy ones after their response; WebSockets
        close once their RPC calls in flight are answered.
        """
        await self.stop_accepting()
        server = self._server
        if server is not None:
            await self._await_first_requests(server, min(timeout, FIRST_REQUEST_GRACE))
            server.pre_shutdown()
            closing = [server.shutdown(timeout)]
            if self.rpc is not None:
                closing.append(asyncio.wait_for(self.rpc.close(), timeout))
            results = await asyncio.gather(*closing, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception) and not isinstance(result, TimeoutError):
                    logger.error("draining failed: %r", result)
        if self._runner is not None:
            await self._runner.cleanup()

    @staticmethod
    async def _await_first_requests(server: web.Server, grace: float) -> None:
        """Connections accepted just before the socket closed may not have sent their first
        request yet: give them ``grace`` seconds, so a request on its way is served, not cut.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while (any(connection._request_count == 0 for connection in server.connections)
               and loop.time() < deadline):
            await asyncio.sleep(0.005)
