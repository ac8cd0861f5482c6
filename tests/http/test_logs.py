"""The server's log on real servers: log_format "json" (every line one object, access lines
with their fields and the route template, tracebacks in one field) and log_level."""

from __future__ import annotations

import json
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import pytest

from tests.support import ServerProcess, wait_for

APP = '''
import warnings

from framework import App, FrameworkModule, http


class Hello:
    @http.get("/hello/{name}")
    async def hello(self, name: str) -> dict:
        return {"hello": name}

    @http.get("/boom")
    async def boom(self) -> dict:
        raise RuntimeError("the database is down\\nsecond line")

    @http.get("/warn")
    async def warn(self) -> dict:
        warnings.warn("this route is deprecated\\nuse /hello", DeprecationWarning)
        return {}


app = App(imports=[FrameworkModule()], controllers=[Hello], name="logs")
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "logs_app.py").write_text(APP)
    return tmp_path


def get(server: ServerProcess, path: str, method: str = "GET") -> int:
    connection = HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def json_lines(output: str) -> list[dict[str, Any]]:
    """Every line of ``output`` as the JSON object it must be."""
    return [json.loads(line) for line in output.splitlines()]


def test_json_logs_are_one_object_per_line_with_access_fields(project: Path) -> None:
    env = {"APP_FRAMEWORK_LOG_FORMAT": "json", "PYTHONWARNINGS": "always"}
    with ServerProcess("logs_app:app", "--workers", "2", cwd=project, env=env) as server:
        server.wait_serving()
        assert [get(server, path) for path in ("/hello/ada", "/hello/bob", "/boom", "/warn",
                                               "/nowhere")] == [200, 200, 500, 200, 404]
        assert get(server, "/hello/eve", "POST") == 405
        wait_for(lambda: '"path":"/nowhere"' in server.output()
                 and '"path":"/hello/eve"' in server.output(), message="the last access lines")
        assert server.stop() == 0
    lines = json_lines(server.output())
    assert all({"ts", "level", "logger", "message", "pid", "worker_id"} <= line.keys()
               for line in lines)
    access = {line["path"]: line for line in lines if line["logger"] == "framework.access"}
    hello = access["/hello/ada"]
    assert hello["route"] == "/hello/{name}" and access["/hello/bob"]["route"] == "/hello/{name}"
    assert (hello["method"], hello["status"], hello["level"]) == ("GET", 200, "info")
    assert hello["bytes"] > 0 and hello["duration_ms"] >= 0
    assert hello["worker_id"] in (1, 2) and hello["pid"] != server.pid
    assert (access["/boom"]["status"], access["/nowhere"]["status"]) == (500, 404)
    assert access["/nowhere"]["route"] is None           # no route served it: no template
    assert access["/hello/eve"]["route"] == "/hello/{name}"  # a 405: the path's template
    failure = next(line for line in lines if line["message"] == "GET /boom failed")
    assert failure["level"] == "error"
    assert failure["exc"].endswith("RuntimeError: the database is down\nsecond line")
    warning = next(line for line in lines if line["logger"] == "py.warnings")
    assert "this route is deprecated" in warning["message"]
    master = [line for line in lines if line["pid"] == server.pid]
    assert master and all(line["worker_id"] is None for line in master)


def test_log_level_warning_leaves_info_lines_out(project: Path) -> None:
    env = {"APP_FRAMEWORK_LOG_LEVEL": "warning"}
    with ServerProcess("logs_app:app", cwd=project, env=env) as server:
        server.wait_serving()
        assert get(server, "/hello/ada") == 200
        assert get(server, "/boom") == 500
        wait_for(lambda: "GET /boom failed" in server.output(), message="the error line")
        assert server.stop() == 0
    output = server.output()
    assert "ERROR framework.http: GET /boom failed" in output
    assert " INFO " not in output and "/hello/ada" not in output
