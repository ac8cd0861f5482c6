"""The JSON-RPC 2.0 dispatcher: one payload in, one response (or none) out.

Transport-free, so HTTP POST and the WebSocket share every rule of the specification:
single calls and batches, notifications (no answer, even on error), the empty batch,
all-notification batches, ids of every allowed type and the -32700..-32603 errors.
Each call runs in its own request scope. The calls of a batch run concurrently, at most
``max_in_flight`` at once, each letting the loop run others; a batch longer than
``max_batch``, or a payload nested deeper than fw can answer, is refused before any call runs.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

import orjson

from framework.di.resolver import Resolver
from framework.errors import DeclarationError, ServiceUnavailable
from framework.http.body import MAX_DEPTH, nested_too_deep
from framework.metrics import Metrics
from framework.rpc.actions import InvalidParams, ParamsPlan, actions_of, controller_name
from framework.rpc.discover import DISCOVER, openrpc_document
from framework.rpc.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    SERVICE_UNAVAILABLE,
    RpcError,
)
from framework.rpc.limits import RpcLimits
from framework.values.convert import dump_json

logger = logging.getLogger("framework.rpc")

_NO_ID = object()
_NO_PARAMS: dict[str, object] = {}
# fw_rpc_calls_total's outcome label, by the error a call was answered with (None: a result)
OUTCOMES: dict[int | None, str] = {
    None: "ok", METHOD_NOT_FOUND: "not_found", INVALID_PARAMS: "invalid_params",
    INTERNAL_ERROR: "internal_error", SERVICE_UNAVAILABLE: "unavailable"}
APP_ERROR = "error"            # an RpcError of the action's own
UNKNOWN_METHOD = "<unknown>"   # the method label of a call to no action: clients choose few


class _Action:
    __slots__ = ("controller", "func", "plan", "is_async")

    def __init__(self, controller: type, func: Callable[..., Any]) -> None:
        self.controller = controller
        self.func = func
        self.plan = ParamsPlan(func)
        self.is_async = inspect.iscoroutinefunction(func)


class RpcDispatcher:
    """Maps ``"<controller>.<action>"`` to ``@rpc.action`` methods and answers payloads."""

    def __init__(self, app: Resolver, controllers: list[type], limits: RpcLimits,
                 metrics: Metrics | None = None, title: str = "fw JSON-RPC") -> None:
        """``title`` names the service in the ``rpc.discover`` document (the app's name)."""
        self._app = app
        self.title = title
        self.limits = limits
        self._calls = None if metrics is None else metrics.counter(
            "fw_rpc_calls_total", "JSON-RPC calls answered, by method and outcome",
            ("method", "outcome"))
        self.actions: dict[str, _Action] = {}
        self._document: dict[str, object] | None = None
        for cls in controllers:
            name = controller_name(cls)
            if name is not None:
                for action_name, func in actions_of(cls).items():
                    method = f"{name}.{action_name}"
                    if method in self.actions:
                        raise DeclarationError(
                            f"RPC method {method} is declared twice: by "
                            f"{self.actions[method].controller.__qualname__} and "
                            f"{cls.__qualname__}")
                    self.actions[method] = _Action(cls, func)

    async def handle(self, payload: bytes | str) -> bytes | None:
        """The encoded response to ``payload``; None when nothing is to be answered."""
        try:
            message = orjson.loads(payload)
        except orjson.JSONDecodeError as error:
            return encode_error(None, RpcError.standard(PARSE_ERROR, str(error)))
        problem = self._refusal(payload, message)
        if problem is not None:
            return encode_error(None, RpcError.standard(INVALID_REQUEST, problem))
        if not isinstance(message, list):
            return await self._answer(message)
        answers = await self._answer_batch(message)
        answered = [answer for answer in answers if answer is not None]
        return b"[" + b",".join(answered) + b"]" if answered else None

    def _refusal(self, payload: bytes | str, message: object) -> str | None:
        """Why the whole payload is refused unrun (an empty or too long batch, too deep)."""
        if isinstance(message, list):
            if not message:
                return "empty batch"
            if len(message) > self.limits.max_batch:
                return (f"a batch of {len(message)} calls is over the limit of "
                        f"{self.limits.max_batch} (rpc_max_batch)")
        if nested_too_deep(payload, message):
            return f"nested deeper than {MAX_DEPTH} levels"
        return None

    async def _answer_batch(self, calls: list[object]) -> list[bytes | None]:
        """The answers to ``calls`` in order, from at most ``max_in_flight`` runners.

        Each runner lets the loop run after every call, so a long batch of calls that never
        wait still leaves room for heartbeats and other requests.
        """
        answers: list[bytes | None] = [None] * len(calls)
        entries = iter(enumerate(calls))

        async def run_entries() -> None:
            for index, call in entries:
                answers[index] = await self._answer(call)
                await asyncio.sleep(0)

        runners = min(self.limits.max_in_flight, len(calls))
        await asyncio.gather(*(run_entries() for _ in range(runners)))
        return answers

    async def _answer(self, call: Any) -> bytes | None:
        """Check one request object, run it, encode its response (None for a notification)."""
        call_id, problem = _check_request(call)
        if problem is not None:
            return encode_error(call_id, RpcError.standard(INVALID_REQUEST, problem))
        try:
            result = await self._call(call["method"], call.get("params", _NO_PARAMS))
        except RpcError as error:
            self._count(call["method"], error.code)
            return None if call_id is _NO_ID else encode_error(call_id, error)
        self._count(call["method"], None)
        if call_id is _NO_ID:
            return None
        try:
            return dump_json({"jsonrpc": "2.0", "result": result, "id": call_id})
        except TypeError as error:
            logger.error("RPC %s returned a value JSON cannot hold: %s", call["method"], error)
            return encode_error(call_id, RpcError.standard(INTERNAL_ERROR))

    def _count(self, method: str, code: int | None) -> None:
        if self._calls is not None:
            self._calls.labels(method if method in self.actions else UNKNOWN_METHOD,
                               OUTCOMES.get(code, APP_ERROR)).inc()

    def discover(self) -> dict[str, object]:
        """The OpenRPC document of every action (``rpc.discover``), built once."""
        if self._document is None:
            self._document = openrpc_document(
                {name: (action.func, action.plan) for name, action in self.actions.items()},
                self.title)
        return self._document

    async def _call(self, method: str, params: list[Any] | dict[str, Any]) -> Any:
        action = self.actions.get(method)
        if action is None:
            if method == DISCOVER:
                return self.discover()
            raise RpcError.standard(METHOD_NOT_FOUND, {"method": method})
        try:
            kwargs = action.plan.bind(params)
        except InvalidParams as error:
            raise RpcError(INVALID_PARAMS, f"Invalid params: {error}",
                           {"errors": [{"param": fault.field, "error": fault.problem}
                                       for fault in error.errors]}) from None
        try:
            with self._app.request_scope():
                result = action.func(self._app.get(action.controller), **kwargs)
                return await result if action.is_async else result
        except RpcError:
            raise
        except ServiceUnavailable as error:  # logged where it was detected, rate-limited
            raise RpcError(SERVICE_UNAVAILABLE, str(error), error.to_json()) from None
        except Exception:
            logger.exception("RPC %s failed", method)
            raise RpcError.standard(INTERNAL_ERROR) from None


def _check_request(call: object) -> tuple[object, str | None]:
    """(id or _NO_ID, problem or None) of one request object, as the spec defines it."""
    if not isinstance(call, dict):
        return None, "a request must be a JSON object"
    call_id = call.get("id", _NO_ID)
    if call_id is not _NO_ID and not _valid_id(call_id):
        return None, "id must be a string, a number or null"
    if call.get("jsonrpc") != "2.0":
        return _or_null(call_id), 'jsonrpc must be exactly "2.0"'
    if not isinstance(call.get("method"), str):
        return _or_null(call_id), "method must be a string"
    if not isinstance(call.get("params", _NO_PARAMS), list | dict):
        return _or_null(call_id), "params must be an array or an object"
    return call_id, None


def _valid_id(call_id: object) -> bool:
    return call_id is None or type(call_id) in (str, int, float)


def _or_null(call_id: object) -> object:
    return None if call_id is _NO_ID else call_id


def encode_error(call_id: object, error: RpcError) -> bytes:
    """The JSON-RPC error reply to the call ``call_id`` (None: a payload with no call to name)."""
    return orjson.dumps({"jsonrpc": "2.0", "error": error.to_json(), "id": call_id})
