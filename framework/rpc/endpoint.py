"""``/rpc`` on aiohttp: JSON-RPC over HTTP POST and over a WebSocket, one dispatcher behind both.

A POST whose body declares a type other than JSON is refused (HTTP 415) with a JSON-RPC
error object, -32600 Invalid Request with id null, so that a JSON-RPC client can read why.

Calls arriving on one WebSocket run concurrently, each answered when it finishes. A socket
is read only while fewer than ``max_in_flight`` of its messages are unanswered and its
writes are not paused, so a client that sends without reading cannot grow the worker: it
meets TCP backpressure instead. On shutdown the server closes every WebSocket after its
calls in flight have been answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.abc import AbstractStreamWriter

from framework.http import RouteTable, error_response
from framework.http.body import json_content_type_problem
from framework.rpc.dispatcher import RpcDispatcher, encode_error
from framework.rpc.errors import INVALID_REQUEST, RpcError

logger = logging.getLogger("framework.rpc")

RPC_PATH = "/rpc"
_CLOSED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED)


class CallsInFlight:
    """The unanswered calls of one WebSocket; ``room()`` waits while there are ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.tasks: set[asyncio.Task[None]] = set()
        self._one_finished = asyncio.Event()

    def start(self, call: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(call)
        self.tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self._one_finished.set()

    async def room(self) -> None:
        while len(self.tasks) >= self.limit:
            self._one_finished.clear()
            await self._one_finished.wait()


class RpcEndpoint:
    """The aiohttp handlers of ``/rpc``; ``close()`` ends every WebSocket gracefully."""

    def __init__(self, dispatcher: RpcDispatcher) -> None:
        self.dispatcher = dispatcher
        self.limits = dispatcher.limits
        self._sockets: dict[web.WebSocketResponse, set[asyncio.Task[None]]] = {}

    def add_routes(self, router: RouteTable) -> None:
        router.add_route("POST", RPC_PATH, self.handle_post)
        router.add_route("GET", RPC_PATH, self.handle_websocket)

    async def handle_post(self, request: web.Request) -> web.Response:
        """Answer one payload (a call or a batch); a body declared as other than JSON is 415."""
        problem = json_content_type_problem(request)
        if problem is not None:
            refusal = encode_error(None, RpcError.standard(INVALID_REQUEST, problem))
            return web.Response(status=415, body=refusal, content_type="application/json")
        answer = await self.dispatcher.handle(await request.read())
        if answer is None:
            return web.Response(status=204)
        return web.Response(body=answer, content_type="application/json")

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=self.limits.max_message_size)
        if not ws.can_prepare(request).ok:
            return error_response(400, f"GET {RPC_PATH} opens a WebSocket; send JSON-RPC "
                                       f"over HTTP with POST {RPC_PATH}")
        writer = await ws.prepare(request)
        calls = CallsInFlight(self.limits.max_in_flight)
        self._sockets[ws] = calls.tasks
        try:
            await self._read_calls(ws, writer, calls)
            if calls.tasks:  # the client left: its calls still run to their end
                await asyncio.gather(*calls.tasks, return_exceptions=True)
        finally:
            self._sockets.pop(ws, None)
            for call in calls.tasks:  # left only when this handler is cancelled
                call.cancel()
        return ws

    async def _read_calls(self, ws: web.WebSocketResponse, writer: AbstractStreamWriter,
                          calls: CallsInFlight) -> None:
        """Start a call per message until the client leaves, reading only while there is room:
        fewer than ``max_in_flight`` unanswered and our writes to the client not paused.
        """
        try:
            while True:
                await calls.room()
                await writer.drain()  # paused while the client does not read its answers
                message = await ws.receive()
                if message.type in _CLOSED:
                    return
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    calls.start(self._answer(ws, message.data))
        except ConnectionError:
            logger.debug("RPC client left while its answers waited to be sent")

    async def _answer(self, ws: web.WebSocketResponse, payload: str | bytes) -> None:
        answer = await self.dispatcher.handle(payload)
        if answer is not None and not ws.closed:
            try:
                await ws.send_frame(answer, WSMsgType.TEXT)
            except ConnectionError:
                logger.debug("RPC client left before its answer was sent")

    async def close(self) -> None:
        """Answer the calls in flight on every WebSocket, then close it (going away)."""
        await asyncio.gather(*(self._close_socket(ws, calls)
                               for ws, calls in list(self._sockets.items())))

    async def _close_socket(self, ws: web.WebSocketResponse,
                            calls: set[asyncio.Task[None]]) -> None:
        if calls:
            await asyncio.gather(*calls, return_exceptions=True)
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
