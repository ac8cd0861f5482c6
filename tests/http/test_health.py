"""Health probes on real servers: /healthz and /readyz in one process and on every worker,
readyz 503 once a process drains, a probe path turned off, and probes kept out of the app's
middlewares and request counts."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path

import pytest

from tests.support import ServerProcess, run_fw, wait_for

APP = '''
import os

from aiohttp import web

from framework import App, FrameworkModule, Module, http


@web.middleware
async def token_required(request, handler):
    if request.headers.get("X-Token") != "secret":
        raise web.HTTPUnauthorized(text="no token")
    return await handler(request)


class Guarded(Module):
    name = "guarded"
    middlewares = [token_required]


class PidController:
    @http.get("/pid")
    async def pid(self) -> dict:
        return {"pid": os.getpid()}


class OwnProbe:
    @http.get("/custom-health")
    async def custom(self) -> dict:
        return {"database": "ok"}


app = App(imports=[FrameworkModule(), Guarded()], controllers=[PidController], name="probes")
own = App(imports=[FrameworkModule(health_path="/custom-health")], controllers=[OwnProbe],
          name="own-probe")
'''
TOKEN = {"X-Token": "secret"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "probes_app.py").write_text(APP)
    return tmp_path


def ask(connection: HTTPConnection, method: str, path: str,
        headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    """One request on ``connection``: status, body, headers (lower-case names)."""
    connection.request(method, path, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    return response.status, body, {k.lower(): v for k, v in response.getheaders()}


def get(server: ServerProcess, path: str, method: str = "GET",
        headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    """``method path`` on a fresh connection."""
    connection = HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        return ask(connection, method, path, headers)
    finally:
        connection.close()


@pytest.fixture
def one_process(project: Path) -> Iterator[ServerProcess]:
    with ServerProcess("probes_app:app", cwd=project) as server:
        server.wait_serving()
        yield server


def test_one_process_answers_health_and_readiness_past_the_apps_middlewares(
        one_process: ServerProcess) -> None:
    assert get(one_process, "/pid")[0] == 401           # the app's middleware guards its routes
    for path in ("/healthz", "/readyz"):
        status, body, headers = get(one_process, path)  # ... but not fw's probes
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        assert headers["content-type"].startswith("application/json")
        status, body, headers = get(one_process, path, "HEAD")
        assert (status, body) == (200, b"")
        assert int(headers["content-length"]) == len(b'{"status": "ok"}')
    assert get(one_process, "/healthz", "POST", TOKEN)[0] == 405


def test_every_worker_answers_the_probes_and_they_are_no_app_requests(project: Path) -> None:
    with ServerProcess("probes_app:app", "--workers", "2", cwd=project) as server:
        server.wait_serving()
        workers = set(wait_for(lambda: len(server.remember_children()) == 2 and
                               server.remember_children(), message="two workers"))
        probed: set[int] = set()
        apps_requests = 0

        def probe_a_worker() -> bool:
            # a keep-alive connection stays with the worker that accepted it
            nonlocal apps_requests
            connection = HTTPConnection("127.0.0.1", server.port, timeout=10)
            try:
                status, body, _ = ask(connection, "GET", "/pid", TOKEN)
                assert status == 200, body
                apps_requests += 1
                assert ask(connection, "GET", "/healthz")[:2] == (200, b'{"status": "ok"}')
                assert ask(connection, "GET", "/readyz")[:2] == (200, b'{"status": "ok"}')
                assert ask(connection, "HEAD", "/readyz")[0] == 200
            finally:
                connection.close()
            probed.add(json.loads(body)["pid"])
            return probed == workers
        wait_for(probe_a_worker, timeout=30, message=f"probes on both workers {workers}")

        status = run_fw("server:status", "--app", "probes_app:app", "--port",
                        str(server.port), "--json", cwd=project,
                        env={"PYTHONPATH": str(project)})
        assert status.returncode == 0, status.stderr
        counted = sum(worker["requests"] for worker in json.loads(status.stdout)["workers"])
        assert counted == apps_requests  # max_requests recycles on these alone


@pytest.mark.parametrize("workers", ["0", "2"])
def test_readyz_answers_503_once_the_process_drains(project: Path, workers: str) -> None:
    env = {"APP_FRAMEWORK_KEEPALIVE_TIMEOUT": "20"}  # the drain grace: open connections answered
    with ServerProcess("probes_app:app", "--workers", workers, cwd=project, env=env) as server:
        server.wait_serving()
        connection = HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            status, _, headers = ask(connection, "GET", "/readyz")
            assert status == 200 and headers.get("connection", "").lower() != "close"
            server.signal(signal.SIGTERM)

            def not_ready() -> tuple[int, bytes, dict[str, str]] | None:
                answer = ask(connection, "GET", "/readyz")
                return answer if answer[0] != 200 else None
            status, body, headers = wait_for(not_ready, timeout=15, message="readyz 503")
        finally:
            connection.close()
        assert status == 503
        assert json.loads(body) == {"status": 503, "error": "Service Unavailable",
                                    "detail": "draining: this process takes no new work"}
        assert headers["connection"].lower() == "close"
        assert server.wait_exit(30) == 0


def test_an_empty_path_turns_a_probe_off(project: Path) -> None:
    env = {"APP_FRAMEWORK_HEALTH_PATH": ""}
    with ServerProcess("probes_app:app", cwd=project, env=env) as server:
        server.wait_serving()
        assert get(server, "/healthz", headers=TOKEN)[0] == 404
        assert get(server, "/readyz")[0] == 200


def test_the_apps_own_route_at_the_health_path_answers_there(project: Path) -> None:
    with ServerProcess("probes_app:own", cwd=project) as server:
        server.wait_serving()
        status, body, _ = get(server, "/custom-health")
        assert (status, json.loads(body)) == (200, {"database": "ok"})
        assert get(server, "/healthz")[0] == 404
        assert get(server, "/readyz")[0] == 200
