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
from typing import Any

from aiohttp import web

from framework import http
from framework.rpc.dispatcher import RpcDispatcher
from framework.rpc.endpoint import RpcEndpoint

logger = logging.getLogger("framework.server")

ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tfs'
access_logger = logging.getLogger("framework.access")


class HttpServer:
    """Serves ``app``'s HTTP controllers and ``/rpc``; counts requests served and in flight."""

    def __init__(self, app: Any, config: Any) -> None:
        self.app = app
        self.config = config
        self.in_flight = 0
        self._server: web.Server | None = None
        self._site: web.SockSite | None = None
        # Errors are answered by each handler's guard, not by a middleware, so that a
        # request pays for no middleware chain unless the app's modules declare some.
        middlewares = [self._json_errors, *app.middlewares] if app.middlewares else []
        self.web_app = web.Application(client_max_size=config.max_body_size,
                                       middlewares=middlewares)
        router = self.web_app.router
        controllers = list(app.controllers)
        http.add_routes(router, app, controllers, self._guard)
        self.rpc: RpcEndpoint | None = None
        dispatcher = RpcDispatcher(app, controllers)
        if dispatcher.actions:
            self.rpc = RpcEndpoint(dispatcher, config.max_body_size)
            self.rpc.add_routes(router, self._guard)
        http.add_fallback(router, self._guard)
        self._runner = web.AppRunner(
            self.web_app, handle_signals=False,
            access_log=access_logger if config.access_log else None,
            access_log_format=ACCESS_LOG_FORMAT,
            shutdown_timeout=config.graceful_shutdown_timeout)

    @property
    def requests_served(self) -> int:
        return self._server.requests_count if self._server is not None else 0

    def _guard(self, handler: http.Handler) -> http.Handler:
        """``handler`` counted in flight, any error turned into fw's JSON answer."""
        debug, max_body_size = self.config.debug, self.config.max_body_size

        async def guarded(request: web.Request) -> web.StreamResponse:
            self.in_flight += 1
            try:
                return await handler(request)
            except Exception as error:
                return http.response_for_error(request, error, debug, max_body_size)
            finally:
                self.in_flight -= 1
        return guarded

    @web.middleware
    async def _json_errors(self, request: web.Request,
                           handler: http.Handler) -> web.StreamResponse:
        """Outside the app's own middlewares: their errors get fw's JSON answer too."""
        try:
            return await handler(request)
        except Exception as error:
            return http.response_for_error(request, error, self.config.debug,
                                           self.config.max_body_size)

    async def start(self, sock: socket.socket) -> None:
        """Serve on ``sock``, a bound and listening socket."""
        await self._runner.setup()
        self._server = self._runner.server
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
            await asyncio.sleep(0)  # let requests that just arrived start
            server.pre_shutdown()
            closing = [server.shutdown(timeout)]
            if self.rpc is not None:
                closing.append(asyncio.wait_for(self.rpc.close(), timeout))
            results = await asyncio.gather(*closing, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception) and not isinstance(result, TimeoutError):
                    logger.error("draining failed: %r", result)
        await self._runner.cleanup()
