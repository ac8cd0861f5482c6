"""CORS on a real server: preflights from listed origins are answered, responses (/rpc too)
carry Access-Control-Allow-Origin only for listed origins, and "*" lets any origin in."""

from __future__ import annotations

from collections.abc import Iterator
from http.client import HTTPConnection, HTTPResponse
from pathlib import Path

import pytest

from tests.support import ServerProcess

APP_SOURCE = '''
from framework import App, FrameworkModule, http, rpc


class Notes:
    @http.get("/notes")
    async def notes(self) -> list[str]:
        return ["one"]


@rpc.controller("notes")
class NotesRpc:
    @rpc.action
    def count(self) -> int:
        return 1


app = App(imports=[FrameworkModule()], controllers=[Notes, NotesRpc])
app.load_config_from_env()
'''

LISTED = "https://app.example"
FOREIGN = "https://evil.example"


def start(tmp_path: Path, origins: str) -> ServerProcess:
    (tmp_path / "cors_app.py").write_text(APP_SOURCE)
    server = ServerProcess("cors_app:app", cwd=tmp_path,
                           env={"APP_FRAMEWORK_CORS_ORIGINS": origins})
    server.wait_serving()
    return server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with start(tmp_path, f"{LISTED},https://other.example") as process:
        yield process


def send(port: int, method: str, path: str, headers: dict[str, str],
         body: bytes | None = None) -> tuple[HTTPResponse, bytes]:
    connection = HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


def preflight(port: int, origin: str, path: str = "/notes") -> tuple[HTTPResponse, bytes]:
    return send(port, "OPTIONS", path, {
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-request-id"})


def test_a_preflight_from_a_listed_origin_is_answered(server: ServerProcess) -> None:
    for path in ("/notes", "/rpc"):
        response, _ = preflight(server.port, LISTED, path)
        assert response.status == 204, path
        assert response.headers["Access-Control-Allow-Origin"] == LISTED
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        assert response.headers["Access-Control-Allow-Headers"] == "content-type, x-request-id"
        assert int(response.headers["Access-Control-Max-Age"]) > 0
        assert "Origin" in response.headers["Vary"]


def test_a_foreign_origin_gets_no_cors_header(server: ServerProcess) -> None:
    response, body = preflight(server.port, FOREIGN)
    assert response.status == 403
    assert "Access-Control-Allow-Origin" not in response.headers
    assert FOREIGN.encode() in body and b"cors_origins" in body
    response, body = send(server.port, "GET", "/notes", {"Origin": FOREIGN})
    assert (response.status, body) == (200, b'["one"]')  # served; the browser hides it
    assert "Access-Control-Allow-Origin" not in response.headers


def test_responses_to_a_listed_origin_carry_its_header_rpc_and_errors_too(
        server: ServerProcess) -> None:
    response, _ = send(server.port, "GET", "/notes", {"Origin": LISTED})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == LISTED
    assert "Origin" in response.headers["Vary"]
    call = b'{"jsonrpc": "2.0", "method": "notes.count", "id": 1}'
    response, body = send(server.port, "POST", "/rpc",
                          {"Origin": LISTED, "Content-Type": "application/json"}, call)
    assert (response.status, body) == (200, b'{"jsonrpc":"2.0","result":1,"id":1}')
    assert response.headers["Access-Control-Allow-Origin"] == LISTED
    response, _ = send(server.port, "GET", "/nowhere", {"Origin": LISTED})
    assert response.status == 404
    assert response.headers["Access-Control-Allow-Origin"] == LISTED


def test_a_star_lets_every_origin_in_and_no_origins_turn_cors_off(tmp_path: Path) -> None:
    with start(tmp_path, "*") as server:
        response, _ = preflight(server.port, FOREIGN)
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        response, _ = send(server.port, "GET", "/notes", {"Origin": FOREIGN})
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    with start(tmp_path, "") as server:
        response, _ = send(server.port, "GET", "/notes", {"Origin": LISTED})
        assert response.status == 200
        assert "Access-Control-Allow-Origin" not in response.headers
        response, _ = preflight(server.port, LISTED)
        assert "Access-Control-Allow-Origin" not in response.headers
