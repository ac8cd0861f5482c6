"""JSON-RPC actions and RpcClient against a served testing app (one process, real sockets)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass
from decimal import Decimal

import aiohttp
import pytest

from framework import FrameworkModule, Module, provide, rpc
from framework.errors import DeclarationError
from framework.rpc import RpcClient, RpcError
from framework.testing import create_testing_app


@dataclass
class Point:
    x: int
    y: int


class CallId:
    """Request-scoped: one number per RPC call."""

    _numbers = itertools.count(1)

    def __init__(self) -> None:
        self.value = next(self._numbers)


class Rendezvous:
    """Two calls that can only both finish when they run at the same time."""

    def __init__(self) -> None:
        self.first_arrived = asyncio.Event()
        self.second_arrived = asyncio.Event()
        self.hang_started = asyncio.Event()


class Audit:
    """A singleton that collects what the notifications sent."""

    def __init__(self) -> None:
        self.seen: list[str] = []


@rpc.controller("things")
class ThingsRpc:
    def __init__(self, call_id: CallId, rendezvous: Rendezvous, audit: Audit) -> None:
        self.call_id = call_id
        self.rendezvous = rendezvous
        self.audit = audit

    @rpc.action
    async def add(self, a: int, b: int = 10) -> int:
        return a + b

    @rpc.action
    async def price(self, amount: Decimal) -> dict:
        return {"total": amount * 3}

    @rpc.action
    def move(self, point: Point, by: list[int], label: str | None = None) -> dict:
        return {"x": point.x + by[0], "y": point.y + by[1], "label": label}

    @rpc.action
    async def scope(self, call_id: int = 0) -> dict:
        await asyncio.sleep(0)
        return {"call": self.call_id.value}

    @rpc.action
    async def fail(self) -> None:
        raise ValueError("secret connection string postgres://admin:pw@db")

    @rpc.action
    async def refuse(self, amount: int) -> None:
        raise RpcError(4001, "amount too large", {"max": 100, "given": amount})

    @rpc.action
    async def record(self, text: str) -> None:
        self.audit.seen.append(text)

    @rpc.action
    async def first(self) -> str:
        self.rendezvous.first_arrived.set()
        await self.rendezvous.second_arrived.wait()
        return "first"

    @rpc.action
    async def second(self) -> str:
        await self.rendezvous.first_arrived.wait()
        self.rendezvous.second_arrived.set()
        return "second"

    @rpc.action
    async def hang(self) -> None:
        self.rendezvous.hang_started.set()
        await asyncio.Event().wait()

    async def internal(self) -> str:
        return "not an action"


class ThingsModule(Module):
    name = "things"
    providers = [provide(CallId, scope="request"), Rendezvous, Audit]
    controllers = [ThingsRpc]


def make_testing():
    return create_testing_app(imports=[FrameworkModule(graceful_shutdown_timeout=0.5),
                                       ThingsModule()])


@pytest.fixture
async def served():
    testing = make_testing()
    async with testing:
        yield testing


async def post(testing, payload: object) -> object:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{testing.url}/rpc", json=payload) as response:
            return await response.json()


async def test_positional_and_named_params_with_defaults(served) -> None:
    things = served.rpc_client().controller("things")
    assert await things.add(1, 2) == 3
    assert await things.add(a=1) == 11
    assert await things.move({"x": 1, "y": 2}, [10, 20]) == {"x": 11, "y": 22, "label": None}
    assert await things.move(point={"x": 0, "y": 0}, by=[1, 1], label="p") == {
        "x": 1, "y": 1, "label": "p"}


@pytest.mark.parametrize(("params", "errors"), [
    ({"a": "one"}, {"a": "expected int, got string"}),
    ({"b": 1}, {"a": "is missing (int)"}),
    ({"a": 1, "c": 2}, {"c": "is not a parameter of this method"}),
    ([1, 2, 3], {"params": "takes at most 2 positional params, got 3"}),
])
async def test_params_not_fitting_the_annotations_are_invalid_params(
        served, params: list | dict, errors: dict) -> None:
    answer = await post(served, {"jsonrpc": "2.0", "method": "things.add", "params": params,
                                 "id": 1})
    error = answer["error"]
    assert error["code"] == -32602
    assert error["data"] == {"errors": [{"param": name, "error": problem}
                                        for name, problem in errors.items()]}
    for name, problem in errors.items():
        assert f"'{name}' {problem}" in error["message"]


async def test_decimals_come_back_exact_as_text(served) -> None:
    """As HTTP writes them: a Decimal result is its exact digits, never a float."""
    assert await served.rpc_client().controller("things").price("0.10") == {"total": "0.30"}


async def test_nested_params_name_the_wrong_field(served) -> None:
    with pytest.raises(RpcError) as raised:
        await served.rpc_client().controller("things").move({"x": "1"}, [1, "2"])
    assert raised.value.data == {"errors": [
        {"param": "point.x", "error": "expected int, got string"},
        {"param": "point.y", "error": "missing"},
        {"param": "by[1]", "error": "expected int, got string"}]}


async def test_only_actions_are_callable(served) -> None:
    for method in ["things.internal", "things.__init__", "things.missing", "other.add"]:
        answer = await post(served, {"jsonrpc": "2.0", "method": method, "id": 1})
        assert answer["error"]["code"] == -32601, method


async def test_an_action_that_raises_is_an_internal_error_without_traceback(
        served, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="framework.rpc"):
        answer = await post(served, {"jsonrpc": "2.0", "method": "things.fail", "id": 7})
    assert answer == {"jsonrpc": "2.0", "id": 7,
                      "error": {"code": -32603, "message": "Internal error"}}
    assert "postgres://admin" in caplog.text and "Traceback" in caplog.text


async def test_an_action_raises_rpc_error_for_its_own_errors(served) -> None:
    with pytest.raises(RpcError) as raised:
        await served.rpc_client().controller("things").refuse(500)
    error = raised.value
    assert (error.code, error.message, error.data) == (
        4001, "amount too large", {"max": 100, "given": 500})


async def test_each_call_gets_its_own_request_scope(served) -> None:
    answer = await post(served, [{"jsonrpc": "2.0", "method": "things.scope", "id": i}
                                 for i in range(20)])
    assert len({item["result"]["call"] for item in answer}) == 20
    things = served.rpc_client().controller("things")
    over_ws = await asyncio.gather(*(things.scope() for _ in range(20)))
    assert len({item["call"] for item in over_ws}) == 20


async def test_calls_on_one_websocket_run_concurrently(served) -> None:
    things = served.rpc_client().controller("things")
    both = asyncio.gather(things.first(), things.second())
    assert await asyncio.wait_for(both, 10) == ["first", "second"]


async def test_many_calls_in_flight_are_matched_by_id(served) -> None:
    async with RpcClient(served.url) as client:
        things = client.controller("things")
        results = await asyncio.gather(*(things.add(i, i) for i in range(200)))
    assert results == [2 * i for i in range(200)]


async def test_notifications_run_and_answer_nothing(served) -> None:
    client = served.rpc_client()
    await client.notify("things.record", "hello")
    await client.notify("things.record", text="again")
    await client.call("things.add", 1)  # answered after both notifications were read
    audit = served.get(Audit)
    assert sorted(audit.seen) == ["again", "hello"]


async def test_a_pending_call_fails_with_connection_error_when_the_socket_drops() -> None:
    testing = make_testing()
    async with testing:
        client = RpcClient(testing.url)
        await client.connect()
        pending = asyncio.ensure_future(client.controller("things").hang())
        await asyncio.wait_for(testing.get(Rendezvous).hang_started.wait(), 10)
    with pytest.raises(ConnectionError, match="closed before things.hang was answered"):
        await pending
    await client.close()


async def test_client_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="ws://"):
        RpcClient("ftp://example.org/rpc")
    client = RpcClient("http://127.0.0.1:9/")
    assert client.url == "ws://127.0.0.1:9/rpc"
    with pytest.raises(ConnectionError, match="cannot open the RPC WebSocket"):
        await client.call("things.add", 1)
    await client.close()
    with pytest.raises(TypeError, match="not both"):
        await RpcClient("ws://127.0.0.1:9/rpc").call("things.add", 1, b=2)


def test_a_method_declared_twice_fails_when_the_server_is_built() -> None:
    from framework import FrameworkConfig
    from framework.server.serving import HttpServer

    @rpc.controller("things")
    class MoreThings:
        @rpc.action
        async def add(self, a: int) -> int:
            return a

    class Twice(Module):
        name = "twice"
        controllers = [ThingsRpc, MoreThings]
        providers = [provide(CallId, scope="request"), Rendezvous, Audit]

    testing = create_testing_app(imports=[FrameworkModule(), Twice()])
    with pytest.raises(DeclarationError, match="things.add is declared twice: by ThingsRpc and "):
        HttpServer(testing.app, testing.get(FrameworkConfig))
