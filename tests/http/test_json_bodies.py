"""JSON bodies on a served app: a body declared as anything but JSON never reaches a handler
(no cross-site simple POSTs), a body with no Content-Type is read as JSON, and nesting is
limited to what can be answered back (400 / -32600, never a 500)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.client import HTTPConnection

import pytest

from framework.http.body import MAX_DEPTH
from tests.support import ServerProcess

APP_SOURCE = '''
"""Handlers that leave a mark when they run, so a test can tell they did not."""

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from framework import App, FrameworkModule, http, rpc

MARKS = Path(os.environ["FW_TEST_MARKS"])


def mark(what: str) -> None:
    (MARKS / f"{what}-{uuid.uuid4().hex}").touch()


@dataclass
class Note:
    text: str


class NotesController:
    @http.post("/notes")
    async def create(self, body: http.Body[Note]) -> dict:
        mark("http")
        return {"text": body.text}

    @http.put("/echo")
    async def echo(self, body: http.Body[dict]) -> dict:
        mark("http")
        return {"echo": body}


@rpc.controller("notes")
class NotesRpc:
    @rpc.action
    async def echo(self, value: object) -> object:
        mark("rpc")
        return value


app = App(imports=[FrameworkModule()], controllers=[NotesController, NotesRpc])
'''

NOTE = json.dumps({"text": "hi"}).encode()
RPC_CALL = json.dumps({"jsonrpc": "2.0", "method": "notes.echo", "params": [1], "id": 1}).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("json_bodies")
    (folder / "bodies_app.py").write_text(APP_SOURCE)
    marks = folder / "marks"
    marks.mkdir()
    with ServerProcess("bodies_app:app", cwd=folder,
                       env={"FW_TEST_MARKS": str(marks)}) as process:
        process.wait_serving()
        process.marks = marks
        yield process


def send(server: ServerProcess, method: str, path: str, body: bytes,
         content_type: str | None) -> tuple[int, dict[str, str], object]:
    """One request with exactly this Content-Type (None: no header); status, headers, JSON."""
    connection = HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.putrequest(method, path)
        if content_type is not None:
            connection.putheader("Content-Type", content_type)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read())
    finally:
        connection.close()


def runs(server: ServerProcess, what: str) -> int:
    return len(list(server.marks.glob(f"{what}-*")))


def nested(depth: int) -> bytes:
    """A JSON object ``depth`` levels deep: {"a": {"a": ... 1 ...}}."""
    return b'{"a":' * depth + b"1" + b"}" * depth


CROSS_SITE_BODIES = [
    ("text/plain", NOTE),
    ("text/plain; charset=utf-8", NOTE),
    ("application/x-www-form-urlencoded", b"text=hi"),
    ("multipart/form-data; boundary=b",
     b'--b\r\nContent-Disposition: form-data; name="text"\r\n\r\nhi\r\n--b--\r\n'),
    ("application/json; charset=latin-1", NOTE),
]
JSON_TYPES = ["application/json", "Application/JSON; charset=UTF-8", "application/merge-patch+json"]


def assert_refused_as_415(answer: tuple[int, dict[str, str], object], sent: str) -> None:
    status, headers, body = answer
    assert status == 415, (sent, status, body)
    assert headers["Content-Type"].startswith("application/json")
    assert body["error"] == "Unsupported Media Type"
    assert "Content-Type: application/json" in body["detail"]
    assert f"got Content-Type: {sent}" in body["detail"]


def assert_refused_as_rpc_415(answer: tuple[int, dict[str, str], object], sent: str) -> None:
    """HTTP 415 whose body is a JSON-RPC error a client can read: -32600, id null, the why."""
    status, headers, body = answer
    assert status == 415, (sent, status, body)
    assert headers["Content-Type"].startswith("application/json")
    assert body == {"jsonrpc": "2.0", "id": None, "error": {
        "code": -32600, "message": "Invalid Request",
        "data": "POST /rpc takes a JSON body: send it with Content-Type: application/json "
                f"(UTF-8); got Content-Type: {sent}"}}


def test_a_json_endpoint_takes_json_content_types_only(server: ServerProcess) -> None:
    for content_type, body in CROSS_SITE_BODIES:
        before = runs(server, "http")
        assert_refused_as_415(send(server, "POST", "/notes", body, content_type), content_type)
        assert runs(server, "http") == before, f"the handler ran for {content_type}"
    for content_type in JSON_TYPES:
        assert send(server, "POST", "/notes", NOTE, content_type)[::2] == (200, {"text": "hi"})
    # no body at all is still the 400 that names the missing body
    status, _, answer = send(server, "POST", "/notes", b"", "text/plain")
    assert status == 400 and answer["errors"][0]["error"].startswith("missing")


def test_post_rpc_takes_json_content_types_only(server: ServerProcess) -> None:
    for content_type, body in CROSS_SITE_BODIES:
        before = runs(server, "rpc")
        payload = RPC_CALL if body == NOTE else body
        assert_refused_as_rpc_415(send(server, "POST", "/rpc", payload, content_type),
                                  content_type)
        assert runs(server, "rpc") == before, f"the action ran for {content_type}"
    for content_type in JSON_TYPES:
        assert send(server, "POST", "/rpc", RPC_CALL, content_type)[::2] == (
            200, {"jsonrpc": "2.0", "result": 1, "id": 1})


def test_a_body_with_no_content_type_is_read_as_json(server: ServerProcess) -> None:
    """As FastAPI reads it: clients such as tinyrpc's HTTP transport send no Content-Type."""
    before = runs(server, "http"), runs(server, "rpc")
    assert send(server, "POST", "/notes", NOTE, None)[::2] == (200, {"text": "hi"})
    assert send(server, "POST", "/rpc", RPC_CALL, None)[::2] == (
        200, {"jsonrpc": "2.0", "result": 1, "id": 1})
    assert (runs(server, "http"), runs(server, "rpc")) == (before[0] + 1, before[1] + 1)
    # ... and still has to be JSON
    status, _, answer = send(server, "POST", "/notes", b"text=hi", None)
    assert status == 400 and answer["errors"][0]["error"].startswith("malformed JSON")


def test_json_nested_deeper_than_the_limit_is_a_400_naming_it(server: ServerProcess) -> None:
    before = runs(server, "http")
    status, _, answer = send(server, "PUT", "/echo", nested(300), "application/json")
    assert status == 400
    assert answer["errors"] == [{"in": "body", "field": "",
                                 "error": f"nested deeper than {MAX_DEPTH} levels"}]
    assert runs(server, "http") == before
    # the deepest body allowed is answered back, inside the handler's own envelope
    status, _, answer = send(server, "PUT", "/echo", nested(MAX_DEPTH), "application/json")
    assert status == 200
    assert json.dumps(answer["echo"], separators=(",", ":")).encode() == nested(MAX_DEPTH)


def test_rpc_nested_deeper_than_the_limit_is_an_invalid_request(server: ServerProcess) -> None:
    before = runs(server, "rpc")
    deep = b'{"jsonrpc":"2.0","method":"notes.echo","params":[' + nested(300) + b'],"id":7}'
    status, _, answer = send(server, "POST", "/rpc", deep, "application/json")
    assert status == 200
    assert answer == {"jsonrpc": "2.0", "id": None, "error": {
        "code": -32600, "message": "Invalid Request",
        "data": f"nested deeper than {MAX_DEPTH} levels"}}
    assert runs(server, "rpc") == before
    # the deepest params that fit: the call object and params array take two of the levels
    fits = b'{"jsonrpc":"2.0","method":"notes.echo","params":[' + nested(
        MAX_DEPTH - 2) + b'],"id":8}'
    status, _, answer = send(server, "POST", "/rpc", fits, "application/json")
    assert (status, answer["id"], "error" in answer) == (200, 8, False)
