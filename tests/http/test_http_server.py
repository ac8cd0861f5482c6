"""`fw server:start` (one process) serving HTTP controllers, tested over loopback.

The app below is what the server subprocesses serve (``--app tests.http.test_http_server:app``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from framework import App, FrameworkModule, Module, http, provide
from tests.support import ServerProcess, serving_with_marks, wait_for

# -- the served app ----------------------------------------------------------------------------


@dataclass
class Address:
    city: str
    zip: str | None = None


@dataclass
class NewUser:
    name: str
    age: int
    address: Address
    tags: list[str] = field(default_factory=list)
    friends: list[Address] = field(default_factory=list)


class RequestId:
    """Request-scoped: a number no other request gets."""

    _numbers = itertools.count(1)

    def __init__(self) -> None:
        self.value = next(self._numbers)




class UserController:
    def __init__(self, greeter: Greeter, request_id: RequestId) -> None:
        self.greeter = greeter
        self.request_id = request_id

    @http.get("/hello/{name}")
    async def hello(self, name: str) -> dict:
        return {"message": self.greeter.greet(name)}

    @http.get("/users/{id}")
    async def get_user(self, id: int, expand: bool = False) -> dict:
        return {"id": id, "expand": expand}

    @http.get("/search")
    async def search(self, q: str, page: int = 1, tags: list[str] = [],  # noqa: B006
                     limit: int | None = None) -> dict:
        return {"q": q, "page": page, "tags": tags, "limit": limit}

    @http.post("/users")
    async def create(self, body: http.Body[NewUser], request: web.Request) -> NewUser:
        assert request.method == "POST"
        return body

    @http.put("/users/{id}")
    async def replace(self, id: int, body: http.Body[dict]) -> dict:
        return {"id": id, "replaced": body}

    @http.patch("/users/{id}")
    async def update(self, id: int) -> dict:
        return {"id": id, "patched": True}

    @http.delete("/users/{id}")
    async def remove(self, id: int) -> None:
        return None

    @http.get("/text")
    def text(self) -> str:
        return "plain text"

    @http.get("/list")
    async def listing(self) -> list:
        return [1, 2, 3]

    @http.get("/custom")
    async def custom(self) -> web.Response:
        return web.Response(status=201, text="made", headers={"X-Custom": "yes"})

    @http.get("/boom")
    async def boom(self) -> dict:
        raise RuntimeError("the database password is hunter2")

    @http.get("/scope")
    async def scope(self, injected: RequestId) -> dict:
        await asyncio.sleep(0.01)  # overlap with the other requests in flight
        return {"controller": self.request_id.value, "injected": injected.value}

    @http.get("/slow")
    async def slow(self, seconds: float) -> dict:
        Path(os.environ["FW_TEST_MARKS"], "slow-started").touch()
        await asyncio.sleep(seconds)
        return {"slept": seconds}


def say(line: str) -> None:
    print(line, flush=True)


async def open_resource():
    say("resource opened")
    yield "resource"
    say("resource torn down")


class Resource:
    pass


class Greeter:
    def __init__(self, resource: Resource) -> None:
        self.resource = resource  # a resource: torn down when the server stops

    def greet(self, name: str) -> str:
        return f"Hello, {name}!"


class UserModule(Module):
    name = "users"
    providers = [Greeter, provide(RequestId, scope="request"),
                 provide(Resource, use_factory=open_resource)]
    controllers = [UserController]


app = App(imports=[FrameworkModule(max_body_size=2048, graceful_shutdown_timeout=10),
                   UserModule()], name="users-test")
quiet_app = App(imports=[FrameworkModule(access_log=False), UserModule()])


# -- helpers -----------------------------------------------------------------------------------

@pytest.fixture
def server(tmp_path: Path):
    with serving_with_marks("tests.http.test_http_server:app", tmp_path) as process:
        yield process


def fetch(server: ServerProcess, method: str, path: str,
          body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body,
                           headers={"Content-Type": "application/json"} if body else {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def fetch_json(server: ServerProcess, method: str, path: str, payload: object = None):
    body = json.dumps(payload).encode() if payload is not None else None
    status, headers, raw = fetch(server, method, path, body)
    assert headers["Content-Type"].startswith("application/json"), raw
    return status, json.loads(raw)


# -- routes, binding, return values -------------------------------------------------------------

def test_routes_answer_with_json_text_and_responses(server: ServerProcess) -> None:
    assert fetch_json(server, "GET", "/hello/ada") == (200, {"message": "Hello, ada!"})
    assert fetch_json(server, "GET", "/list") == (200, [1, 2, 3])
    status, headers, body = fetch(server, "GET", "/text")
    assert (status, body) == (200, b"plain text")
    assert headers["Content-Type"].startswith("text/plain")
    status, headers, body = fetch(server, "GET", "/custom")
    assert (status, headers["X-Custom"], body) == (201, "yes", b"made")
    status, _, body = fetch(server, "DELETE", "/users/3")
    assert (status, body) == (204, b"")


def test_path_and_typed_query_parameters_bind(server: ServerProcess) -> None:
    assert fetch_json(server, "GET", "/users/7") == (200, {"id": 7, "expand": False})
    assert fetch_json(server, "GET", "/users/7?expand=true") == (200, {"id": 7, "expand": True})
    assert fetch_json(server, "GET", "/search?q=fw&page=3&tags=a&tags=b&limit=5") == (
        200, {"q": "fw", "page": 3, "tags": ["a", "b"], "limit": 5})
    assert fetch_json(server, "GET", "/search?q=fw") == (
        200, {"q": "fw", "page": 1, "tags": [], "limit": None})
    assert fetch_json(server, "PATCH", "/users/2") == (200, {"id": 2, "patched": True})


def test_body_binds_nested_dataclasses_and_lists(server: ServerProcess) -> None:
    user = {"name": "Ada", "age": 36, "address": {"city": "London"}, "tags": ["math"],
            "friends": [{"city": "Paris", "zip": "75001"}]}
    status, body = fetch_json(server, "POST", "/users", user)
    assert status == 200
    assert body == {**user, "address": {"city": "London", "zip": None}}
    assert fetch_json(server, "PUT", "/users/4", {"any": ["json"]}) == (
        200, {"id": 4, "replaced": {"any": ["json"]}})


def test_bad_input_is_a_400_naming_every_wrong_field(server: ServerProcess) -> None:
    status, body = fetch_json(server, "GET", "/users/seven?expand=maybe")
    assert status == 400
    assert body["errors"] == [
        {"in": "path", "field": "id", "error": "expected int, got 'seven'"},
        {"in": "query", "field": "expand",
         "error": "expected bool (true/false, 1/0, yes/no, on/off), got 'maybe'"}]
    status, body = fetch_json(server, "GET", "/search?page=2")
    assert (status, body["errors"]) == (400, [{"in": "query", "field": "q", "error": "missing"}])
    status, body = fetch_json(server, "POST", "/users", {
        "name": 5, "address": {"zip": 75001}, "tags": ["ok", 2],
        "friends": [{"city": "Paris"}, {"town": "Rome"}]})
    assert status == 400
    assert {error["field"]: error["error"] for error in body["errors"]} == {
        "name": "expected str, got number",
        "age": "missing",
        "address.city": "missing",
        "address.zip": "expected str, got number",
        "tags[1]": "expected str, got number",
        "friends[1].city": "missing",
    }
    assert all(error["in"] == "body" for error in body["errors"])
    assert body["status"] == 400 and body["error"] == "Bad Request"


def test_malformed_and_missing_json_bodies_are_400(server: ServerProcess) -> None:
    status, headers, raw = fetch(server, "POST", "/users", b'{"name": ')
    body = json.loads(raw)
    assert status == 400 and "malformed JSON" in body["errors"][0]["error"]
    status, body = fetch_json(server, "POST", "/users")
    assert status == 400 and body["errors"][0]["error"].startswith("missing")


def test_unknown_route_wrong_method_and_big_body(server: ServerProcess) -> None:
    status, body = fetch_json(server, "GET", "/nowhere")
    assert (status, body["error"], body["detail"]) == (
        404, "Not Found", "no route for GET /nowhere")
    status, headers, raw = fetch(server, "POST", "/hello/ada", b"{}")
    assert status == 405 and headers["Allow"] == "GET,HEAD"
    assert json.loads(raw)["error"] == "Method Not Allowed"
    status, body = fetch_json(server, "POST", "/users", {"name": "x" * 4096})
    assert (status, body["error"]) == (413, "Request Entity Too Large")
    assert "2048" in body["detail"]


def test_a_failing_handler_is_a_500_without_traceback_and_is_logged(
        server: ServerProcess) -> None:
    status, body = fetch_json(server, "GET", "/boom")
    assert (status, body["error"]) == (500, "Internal Server Error")
    assert "hunter2" not in json.dumps(body) and "traceback" not in body
    assert "RuntimeError: the database password is hunter2" in server.output()
    assert "Traceback" in server.output()


def test_access_log_lines_carry_status_and_time(server: ServerProcess, tmp_path: Path) -> None:
    fetch(server, "GET", "/users/1")
    fetch(server, "GET", "/nowhere")
    wait_for(lambda: '"GET /nowhere HTTP/1.1" 404' in server.output(), message="access lines")
    log = server.output()
    assert '"GET /users/1 HTTP/1.1" 200' in log
    line = next(line for line in log.splitlines() if "GET /users/1 " in line)
    assert line.rstrip().endswith("s") and float(line.rsplit(" ", 1)[1][:-1]) >= 0
    with ServerProcess("tests.http.test_http_server:quiet_app", cwd=tmp_path) as quiet:
        quiet.wait_serving()
        assert fetch(quiet, "GET", "/users/1")[0] == 200
        quiet.stop()
        assert "GET /users/1" not in quiet.output()


# -- request scopes ----------------------------------------------------------------------------

def test_keep_alive_requests_on_one_connection_get_their_own_scope(
        server: ServerProcess) -> None:
    connection = HTTPConnection("127.0.0.1", server.port, timeout=10)
    seen = []
    try:
        for _ in range(5):
            connection.request("GET", "/scope")
            response = connection.getresponse()
            seen.append(json.loads(response.read()))
            assert response.getheader("Connection", "keep-alive").lower() == "keep-alive"
    finally:
        connection.close()
    assert all(ids["controller"] == ids["injected"] for ids in seen)
    assert len({ids["controller"] for ids in seen}) == 5


async def test_concurrent_requests_never_share_a_scope(server: ServerProcess) -> None:
    async with aiohttp.ClientSession() as session:
        async def one() -> dict:
            async with session.get(f"{server.url}/scope") as response:
                assert response.status == 200
                return await response.json()
        seen = await asyncio.gather(*(one() for _ in range(100)))
    assert all(ids["controller"] == ids["injected"] for ids in seen)
    assert len({ids["controller"] for ids in seen}) == 100
