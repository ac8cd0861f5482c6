"""``/rpc`` on aiohttp: JSON-RPC over HTTP POST and over a WebSocket, one dispatcher behind both.

Calls arriving on one WebSocket run concurrently, each answered when it finishes. On
shutdown the server closes every WebSocket after its calls in flight have been answered.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSCloseCode, WSMsgType, web

from framework.http import RouteTable, error_response
from framework.rpc.dispatcher import RpcDispatcher

logger = logging.getLogger("framework.rpc")

RPC_PATH = "/rpc"


class RpcEndpoint:
    """The aiohttp handlers of ``/rpc``; ``close()`` ends every WebSocket gracefully."""

    def __init__(self, dispatcher: RpcDispatcher, max_message_size: int) -> None:
        self.dispatcher = dispatcher
        self.max_message_size = max_message_size
        self._sockets: dict[web.WebSocketResponse, set[asyncio.Task]] = {}

    def add_routes(self, router: RouteTable) -> None:
        router.add_route("POST", RPC_PATH, self.handle_post)
        router.add_route("GET", RPC_PATH, self.handle_websocket)

    async def handle_post(self, request: web.Request) -> web.Response:
        answer = await self.dispatcher.handle(await request.read())
        if answer is None:
            return web.Response(status=204)
        return web.Response(body=answer, content_type="application/json")

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=self.max_message_size)
        if not ws.can_prepare(request).ok:
            return error_response(400, f"GET {RPC_PATH} opens a WebSocket; send JSON-RPC "
                                       f"over HTTP with POST {RPC_PATH}")
        await ws.prepare(request)
        calls: set[asyncio.Task] = set()
        self._sockets[ws] = calls
        try:
            async for message in ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    call = asyncio.create_task(self._answer(ws, message.data))
                    calls.add(call)
                    call.add_done_callback(calls.discard)
            if calls:  # the client left: its calls still run to their end
                await asyncio.gather(*calls, return_exceptions=True)
        finally:
            self._sockets.pop(ws, None)
            for call in calls:  # left only when this handler is cancelled
                call.cancel()
        return ws

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

    async def _close_socket(self, ws: web.WebSocketResponse, calls: set[asyncio.Task]) -> None:
        if calls:
            await asyncio.gather(*calls, return_exceptions=True)
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
