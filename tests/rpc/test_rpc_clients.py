"""Third-party JSON-RPC clients against `fw server:start`: what a user installs from PyPI to
call ``/rpc`` works, results and errors alike.

tinyrpc's HTTP transport posts its payload with ``requests`` and no Content-Type at all, and
reads any reply body as JSON-RPC, so it needs both halves of the content-type rule: a body
with no type is read as JSON, and a refusal is a JSON-RPC error object.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tinyrpc import RPCClient
from tinyrpc.protocols.jsonrpc import JSONRPCError, JSONRPCProtocol
from tinyrpc.transports.http import HttpPostClientTransport

from framework import App, FrameworkModule, Module, rpc
from framework.rpc import RpcError
from tests.support import ServerProcess

NOT_FOUND = 4004


@rpc.controller("notes")
class NotesRpc:
    @rpc.action
    async def add(self, a: int, b: int = 10) -> int:
        return a + b

    @rpc.action
    async def find(self, id: int) -> dict:
        raise RpcError(NOT_FOUND, "no such note", {"id": id})


class NotesModule(Module):
    name = "notes"
    controllers = [NotesRpc]


app = App(imports=[FrameworkModule(), NotesModule()])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess("tests.rpc.test_rpc_clients:app",
                       cwd=tmp_path_factory.mktemp("rpc-clients")) as process:
        process.wait_serving()
        yield process


def tinyrpc_client(server: ServerProcess) -> RPCClient:
    """tinyrpc as its docs set it up: JSON-RPC 2.0 over HTTP POST (requests)."""
    return RPCClient(JSONRPCProtocol(),
                     HttpPostClientTransport(f"{server.url}/rpc", timeout=10))


def test_tinyrpc_calls_an_action_with_positional_and_named_params(
        server: ServerProcess) -> None:
    notes = tinyrpc_client(server).get_proxy(prefix="notes.")
    assert notes.add(1, 2) == 3
    assert notes.add(a=5) == 15


def test_tinyrpc_raises_the_actions_error_with_fws_code_message_and_data(
        server: ServerProcess) -> None:
    client = tinyrpc_client(server)
    with pytest.raises(JSONRPCError) as raised:
        client.call("notes.find", [7], {})
    # tinyrpc keeps the server's code only in this attribute of the error it rebuilds
    assert (raised.value._jsonrpc_error_code, raised.value.message, raised.value.data) == (
        NOT_FOUND, "no such note", {"id": 7})
    with pytest.raises(JSONRPCError) as raised:
        client.call("notes.missing", [], {})
    assert (raised.value._jsonrpc_error_code, raised.value.message) == (
        -32601, "Method not found")
