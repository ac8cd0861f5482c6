"""RpcClient: JSON-RPC 2.0 over one WebSocket, many calls in flight matched by id.

    async with RpcClient("ws://127.0.0.1:8080/rpc") as client:
        users = client.controller("users")
        user = await users.get(id=1)
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, NotRequired, TypedDict

import aiohttp
import orjson
from yarl import URL

from framework.rpc.errors import RpcError

logger = logging.getLogger("framework.rpc.client")

Params = list[object] | dict[str, object]


class Request(TypedDict):
    """A JSON-RPC 2.0 request object (a notification has no ``id``)."""

    jsonrpc: str
    method: str
    params: NotRequired[Params]
    id: NotRequired[int]


def websocket_url(url: str) -> str:
    """``ws://`` for ``http://`` (``wss://`` for ``https://``); ``/rpc`` when no path is given."""
    parsed = URL(url)
    scheme = {"http": "ws", "https": "wss"}.get(parsed.scheme, parsed.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"RpcClient needs a ws://, wss://, http:// or https:// URL, got {url!r}")
    path = parsed.path if parsed.path not in ("", "/") else "/rpc"
    return str(parsed.with_scheme(scheme).with_path(path))


class RpcControllerProxy:
    """``await proxy.<action>(...)`` calls ``<controller>.<action>`` on the server."""

    def __init__(self, client: RpcClient, name: str) -> None:
        self._client = client
        self._name = name

    def __getattr__(self, action: str) -> Callable[..., Awaitable[Any]]:
        if action.startswith("_"):
            raise AttributeError(action)

        async def call(*args: object, **kwargs: object) -> Any:
            return await self._client.call(f"{self._name}.{action}", *args, **kwargs)
        call.__name__ = action
        return call


class RpcClient:
    """A JSON-RPC client on one WebSocket; connects on first use or in ``async with``."""

    def __init__(self, url: str, *, session: aiohttp.ClientSession | None = None) -> None:
        self.url = websocket_url(url)
        self._session = session
        self._own_session = session is None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, tuple[str, asyncio.Future[object]]] = {}
        self._ids = itertools.count(1)
        self._connecting: asyncio.Lock | None = None

    def controller(self, name: str) -> RpcControllerProxy:
        """A proxy whose attributes call the actions of the server's ``name`` controller."""
        return RpcControllerProxy(self, name)

    async def connect(self) -> RpcClient:
        """Open the WebSocket (again, if it was closed); calls do this themselves."""
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._ws is None or self._ws.closed:
                if self._session is None:
                    self._session = aiohttp.ClientSession()
                try:
                    self._ws = await self._session.ws_connect(self.url)
                except aiohttp.ClientError as error:
                    raise ConnectionError(f"cannot open the RPC WebSocket {self.url}: "
                                          f"{error}") from error
                self._reader = asyncio.create_task(self._read_answers(self._ws))
        return self

    async def call(self, method: str, *args: object, **kwargs: object) -> Any:
        """Call ``method`` with positional or named params: its result (any JSON value);
        RpcError when it answers an error."""
        message = self._request(method, args, kwargs)
        call_id = message["id"] = next(self._ids)
        answer = asyncio.get_running_loop().create_future()
        self._pending[call_id] = (method, answer)
        try:
            await self._send(message)
            return await answer
        finally:
            self._pending.pop(call_id, None)

    async def notify(self, method: str, *args: object, **kwargs: object) -> None:
        """Send a notification: the server runs ``method`` and answers nothing."""
        await self._send(self._request(method, args, kwargs))

    @staticmethod
    def _request(method: str, args: tuple[object, ...], kwargs: dict[str, object]) -> Request:
        if args and kwargs:
            raise TypeError(f"{method}: pass params by position or by name, not both")
        message: Request = {"jsonrpc": "2.0", "method": method}
        if args or kwargs:
            message["params"] = list(args) if args else kwargs
        return message

    async def _send(self, message: Request) -> None:
        payload = orjson.dumps(message)
        ws = self._ws
        if ws is None or ws.closed:
            await self.connect()
            ws = self._ws
        assert ws is not None
        try:
            await ws.send_frame(payload, aiohttp.WSMsgType.TEXT)
        except ConnectionError as error:
            raise ConnectionError(f"RPC connection to {self.url} is closed") from error

    async def _read_answers(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for message in ws:
                if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    self._settle(orjson.loads(message.data))
        except Exception:
            logger.exception("RPC client %s: reading answers failed", self.url)
        finally:
            for method, answer in list(self._pending.values()):
                if not answer.done():
                    answer.set_exception(ConnectionError(
                        f"RPC connection to {self.url} closed before {method} was answered"))

    def _settle(self, answers: Any) -> None:
        for answer in answers if isinstance(answers, list) else [answers]:
            pending = self._pending.get(answer.get("id"))
            if pending is None:
                logger.warning("RPC client %s: answer for no pending call: %s", self.url, answer)
                continue
            future = pending[1]
            if future.done():
                continue
            error = answer.get("error")
            if error is not None:
                future.set_exception(RpcError(error.get("code"), error.get("message"),
                                              error.get("data")))
            else:
                future.set_result(answer.get("result"))

    async def close(self) -> None:
        """Close the WebSocket (pending calls fail with ConnectionError) and the session."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await self._reader
            self._reader = None
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> RpcClient:
        return await self.connect()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()
