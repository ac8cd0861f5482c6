"""Every example of section 7 of the JSON-RPC 2.0 specification, over HTTP and WebSocket.

https://www.jsonrpc.org/specification#examples — run against `fw server:start`. fw names
methods ``<controller>.<action>``, so the spec's methods live on the ``spec`` controller and
their names are prefixed (``subtract`` -> ``spec.subtract``); the names the spec uses for
methods that do not exist (``foobar``, ``foo.get``) are sent as they are. Errors are compared
without their optional ``data`` member, where fw adds detail; a batch's answers may come in
any order (spec, section 6), so they are compared as sets.
"""

from __future__ import annotations

import json
import uuid

import aiohttp
import pytest

from framework import App, FrameworkModule, Module, rpc
from tests.support import ServerProcess


@rpc.controller("spec")
class SpecRpc:
    @rpc.action
    async def subtract(self, minuend: int, subtrahend: int) -> int:
        return minuend - subtrahend

    @rpc.action
    async def update(self, a: int, b: int, c: int, d: int, e: int) -> None:
        pass

    @rpc.action
    async def sum(self, a: int, b: int, c: int) -> int:
        return a + b + c

    @rpc.action
    async def notify_hello(self, n: int) -> None:
        pass

    @rpc.action
    async def notify_sum(self, a: int, b: int, c: int) -> None:
        pass

    @rpc.action
    def get_data(self) -> list:
        return ["hello", 5]


class SpecModule(Module):
    name = "spec"
    controllers = [SpecRpc]


app = App(imports=[FrameworkModule(), SpecModule()])

SPEC_METHODS = {"subtract", "update", "sum", "notify_hello", "notify_sum", "get_data"}

# (request as sent on the wire, expected response or None when nothing is returned)
EXAMPLES = [
    ('{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}',
     {"jsonrpc": "2.0", "result": 19, "id": 1}),
    ('{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}',
     {"jsonrpc": "2.0", "result": -19, "id": 2}),
    ('{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, '
     '"id": 3}',
     {"jsonrpc": "2.0", "result": 19, "id": 3}),
    ('{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, '
     '"id": 4}',
     {"jsonrpc": "2.0", "result": 19, "id": 4}),
    ('{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}', None),
    ('{"jsonrpc": "2.0", "method": "foobar"}', None),
    ('{"jsonrpc": "2.0", "method": "foobar", "id": "1"}',
     {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"}),
    ('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]',
     {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}),
    ('{"jsonrpc": "2.0", "method": 1, "params": "bar"}',
     {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None}),
    ('[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},'
     '{"jsonrpc": "2.0", "method"]',
     {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}),
    ("[]",
     {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None}),
    ("[1]",
     [{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None}]),
    ("[1,2,3]",
     [{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None}]
     * 3),
    ('[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},'
     '{"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},'
     '{"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},'
     '{"foo": "boo"},'
     '{"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},'
     '{"jsonrpc": "2.0", "method": "get_data", "id": "9"}]',
     [{"jsonrpc": "2.0", "result": 7, "id": "1"},
      {"jsonrpc": "2.0", "result": 19, "id": "2"},
      {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None},
      {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "5"},
      {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"}]),
    ('[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},'
     '{"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]', None),
]


def on_fw(request: str) -> str:
    """The spec's request with its existing methods named as fw serves them."""
    for method in SPEC_METHODS:
        request = request.replace(f'"method": "{method}"', f'"method": "spec.{method}"')
    return request


def comparable(response: object) -> object:
    """A response without the errors' optional data; a batch as a sorted list."""
    if isinstance(response, list):
        return sorted((comparable(item) for item in response), key=json.dumps)
    if isinstance(response, dict) and isinstance(response.get("error"), dict):
        response = {**response, "error": {key: value for key, value in
                                          response["error"].items() if key != "data"}}
    return response


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with ServerProcess("tests.rpc.test_rpc_spec:app",
                       cwd=tmp_path_factory.mktemp("rpc-spec")) as process:
        process.wait_serving()
        yield process


@pytest.mark.parametrize(("request_text", "expected"), EXAMPLES)
async def test_spec_example_over_http(server: ServerProcess, request_text: str,
                                      expected: object) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{server.url}/rpc", data=on_fw(request_text),
                                headers={"Content-Type": "application/json"}) as response:
            body = await response.read()
            if expected is None:
                assert (response.status, body) == (204, b"")
            else:
                assert response.status == 200
                assert response.content_type == "application/json"
                assert comparable(json.loads(body)) == comparable(expected)


async def test_every_spec_example_over_one_websocket(server: ServerProcess) -> None:
    """Each example's answer (if any) is read, then a probe call is sent: the next message
    must be the probe's answer, so an example that must answer nothing is seen to answer
    nothing (a stray answer would arrive before a later probe's)."""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"ws://127.0.0.1:{server.port}/rpc") as ws:
            async def receive() -> object:
                return json.loads((await ws.receive(timeout=10)).data)

            for request_text, expected in EXAMPLES:
                await ws.send_str(on_fw(request_text))
                if expected is not None:
                    assert comparable(await receive()) == comparable(expected), request_text
                probe = str(uuid.uuid4())
                await ws.send_str(json.dumps({"jsonrpc": "2.0", "method": "spec.get_data",
                                              "id": probe}))
                assert await receive() == {"jsonrpc": "2.0", "result": ["hello", 5],
                                           "id": probe}, request_text


def test_errors_carry_detail_in_data(server: ServerProcess) -> None:
    import urllib.request

    request = urllib.request.Request(
        f"{server.url}/rpc", method="POST", headers={"Content-Type": "application/json"},
        data=b'{"jsonrpc": "2.0", "method": "foobar", "id": 1}')
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["error"]["data"] == {"method": "foobar"}
