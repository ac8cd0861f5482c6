"""JSON-RPC 2.0 errors: the spec's codes and RpcError, raised by actions and by RpcClient."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from framework.errors import FrameworkError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# server range (-32000..-32099): a service the call needs (e.g. the broker) is down; data
# names it: {"service": ..., "address": ...}
SERVICE_UNAVAILABLE = -32001

MESSAGES = {
    PARSE_ERROR: "Parse error",
    INVALID_REQUEST: "Invalid Request",
    METHOD_NOT_FOUND: "Method not found",
    INVALID_PARAMS: "Invalid params",
    INTERNAL_ERROR: "Internal error",
}


class ErrorObject(TypedDict):
    """The ``error`` member of a JSON-RPC answer."""

    code: int
    message: str
    data: NotRequired[object]


class RpcError(FrameworkError):
    """A JSON-RPC error: raise it in an action to answer with your own code, message, data.

    RpcClient raises it when the server answers with an error.
    """

    def __init__(self, code: int, message: str, data: object = None) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> ErrorObject:
        error: ErrorObject = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error

    @classmethod
    def standard(cls, code: int, data: object = None) -> RpcError:
        """One of the spec's errors with its spec message."""
        return cls(code, MESSAGES[code], data)
