"""Operating a running server over its control socket: fw server:status, scale, stop, and a
module command that uses the running server's broker. Real servers, real sockets."""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    ServerProcess,
    free_port,
    pid_alive,
    run_fw,
    serving_pids,
    wait_for,
)

APP = '''
import click

from framework import App, FrameworkModule, http
from framework.broker import BrokerKeyValue


class NotesController:
    def __init__(self, kv: BrokerKeyValue) -> None:
        self.kv = kv

    @http.get("/notes/{key}")
    async def write(self, key: str, text: str) -> dict:
        await self.kv.set(f"note:{key}", text)
        return {"written": key}


@click.command("notes:get")
@click.argument("key")
async def notes_get(key: str, kv: BrokerKeyValue) -> None:
    """Print a note, from whichever broker this process has."""
    click.echo(f"{key}: {await kv.get(f'note:{key}')}")


app = App(imports=[FrameworkModule()], controllers=[NotesController], commands=[notes_get],
          name="control-test")
'''
WORKER_FIELDS = {"id", "pid", "state", "generation", "uptime", "requests", "in_flight",
                 "rss_mb", "restarts"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


@pytest.fixture
def two_workers(project: Path) -> Iterator[ServerProcess]:
    with ServerProcess("app:app", "--workers", "2", cwd=project) as server:
        server.wait_serving()
        wait_for(lambda: serving_pids(server) if len(serving_pids(server)) == 2 else None,
                 timeout=20, message="2 workers serving")
        yield server


def fw(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """``fw ARGS`` for the app of ``server``, found the way server:start found it."""
    return run_fw(*args, "--app", "app:app", "--port", str(server.port), cwd=server.cwd)


def status_of(server: ServerProcess) -> dict[str, Any]:
    result = fw(server, "server:status", "--json")
    assert result.returncode == 0, result.stderr
    status: dict[str, Any] = json.loads(result.stdout)
    return status


def test_status_shows_the_master_and_every_worker_as_a_table_and_as_json(
        two_workers: ServerProcess) -> None:
    server = two_workers
    urllib.request.urlopen(f"{server.url}/notes/a?text=hi", timeout=10).read()

    status = status_of(server)
    assert status["pid"] == server.pid
    assert status["app"] == "control-test"
    assert status["address"] == f"http://127.0.0.1:{server.port}"
    assert status["generation"] == 0 and status["broker"] == "memory"
    workers = status["workers"]
    assert [worker["id"] for worker in workers] == [1, 2]
    for worker in workers:
        assert set(worker) == WORKER_FIELDS
        assert worker["state"] == "serving" and worker["restarts"] == 0
        assert worker["pid"] in server.remember_children()
        assert worker["rss_mb"] > 0 and worker["in_flight"] == 0
    assert sum(worker["requests"] for worker in workers) == 1

    table = fw(server, "server:status")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith(f"master {server.pid}  app control-test  ")
    assert lines[1].split() == ["id", "pid", "state", "generation", "uptime", "requests",
                                "in", "flight", "RSS", "MiB", "restarts"]
    rows = [line.split() for line in lines[2:]]
    assert [(row[0], int(row[1]), row[2]) for row in rows] == [
        (str(worker["id"]), worker["pid"], "serving") for worker in workers]


def test_the_control_socket_is_private_to_the_servers_user(two_workers: ServerProcess) -> None:
    path = Path(f"/tmp/fw-{os.getuid()}/control-test-{two_workers.port}.sock")
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_scale_to_three_workers_returns_once_they_serve(two_workers: ServerProcess) -> None:
    server = two_workers
    result = fw(server, "server:scale", "3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3 workers serving"
    workers = status_of(server)["workers"]
    assert [(w["id"], w["state"]) for w in workers] == [(1, "serving"), (2, "serving"),
                                                         (3, "serving")]
    assert {w["pid"] for w in workers} <= set(server.remember_children())

    refused = fw(server, "server:scale", "0")
    assert refused.returncode == 2 and "0" in refused.stderr


def test_stop_returns_once_the_master_exited_and_removes_the_socket(
        two_workers: ServerProcess) -> None:
    server = two_workers
    path = Path(f"/tmp/fw-{os.getuid()}/control-test-{server.port}.sock")
    workers = server.remember_children()
    result = fw(server, "server:stop", "--timeout", "30")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"stopped (master pid {server.pid})"
    assert server.wait_exit(5) == 0
    assert not path.exists()
    assert not any(pid_alive(pid) for pid in workers)


def test_with_no_server_running_a_control_command_says_so_in_one_line(project: Path) -> None:
    port = free_port()
    for args in (["server:status", "--app", "app:app", "--port", str(port)],
                 ["server:stop", "--socket", str(project / "nothing.sock")]):
        result = run_fw(*args, cwd=project)
        assert result.returncode == 2
        assert result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "no server running" in result.stderr
    assert f"control-test-{port}.sock" in run_fw(
        "server:reload", "--app", "app:app", "--port", str(port), cwd=project).stderr


def test_a_module_command_reads_what_a_worker_wrote_to_the_servers_broker(
        two_workers: ServerProcess) -> None:
    server = two_workers
    for key in ("first", "second"):  # both workers are likely to write one
        answer = urllib.request.urlopen(f"{server.url}/notes/{key}?text=from-{key}", timeout=10)
        assert json.loads(answer.read()) == {"written": key}

    # Found without --port: the only control socket of this app that answers.
    for key in ("first", "second"):
        result = run_fw("notes:get", key, cwd=server.cwd)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{key}: from-{key}"

    server.stop()
    alone = run_fw("notes:get", "first", cwd=server.cwd)
    assert alone.returncode == 0, alone.stderr
    assert alone.stdout.strip() == "first: None"  # its own memory broker, empty


def test_one_process_answers_status_its_broker_and_stop_but_refuses_reload_and_scale(
        project: Path) -> None:
    with ServerProcess("app:app", "--workers", "0", cwd=project) as server:
        server.wait_serving()
        status = status_of(server)
        assert (status["pid"], status["workers"], status["workers_wanted"]) == (server.pid, [], 0)
        urllib.request.urlopen(f"{server.url}/notes/solo?text=one", timeout=10).read()
        result = run_fw("notes:get", "solo", cwd=project)
        assert result.stdout.strip() == "solo: one", result.stderr

        for args in (["server:reload"], ["server:scale", "2"]):
            refused = fw(server, *args)
            assert refused.returncode == 1
            assert "one process (workers=0)" in refused.stderr
        stopped = fw(server, "server:stop")
        assert stopped.returncode == 0, stopped.stderr
        assert server.wait_exit(5) == 0


def test_with_the_app_broken_on_disk_port_still_finds_its_running_server(project: Path) -> None:
    with ServerProcess("app:app", "--workers", "0", cwd=project) as server:
        server.wait_serving()
        (project / "app.py").write_text(APP + "\ndef broken(:\n")
        found = run_fw("server:status", "--json", "--port", str(server.port), cwd=project)
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)["pid"] == server.pid

        lost = run_fw("server:status", cwd=project)
        assert lost.returncode == 2
        assert "SyntaxError" in lost.stderr and "--port or --socket" in lost.stderr


def test_the_control_socket_drops_garbage_closes_silent_clients_and_refuses_a_second_server(
        project: Path) -> None:
    path = project / "ctl" / "control.sock"
    path.parent.mkdir()
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))  # a dead server's socket: nothing listens on it
    stale.close()
    env = {"APP_FRAMEWORK_CONTROL_SOCKET": str(path)}
    with ServerProcess("app:app", "--workers", "1", cwd=project, env=env) as server:
        server.wait_serving()  # the port listens before the master opens its control socket
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(10)
            wait_for(lambda: client.connect_ex(str(path)) == 0, timeout=15,
                     message="the control socket to listen")
            garbage = b"not json"
            request = json.dumps({"op": "status"}).encode()
            client.sendall(struct.pack("!i", len(garbage)) + garbage
                           + struct.pack("!i", len(request)) + request)
            size = struct.unpack("!i", receive_exactly(client, 4))[0]
            answer = json.loads(receive_exactly(client, size))
            assert answer["ok"] is True and answer["status"]["pid"] == server.pid
            assert client.recv(1) == b""  # silent from now on: the server closes it

        second = ServerProcess("app:app", "--workers", "1", cwd=project, env=env)
        try:
            assert second.wait_exit(20) == 2
            assert f"another fw server answers on the control socket {path}" in second.output()
        finally:
            second.stop()
        result = run_fw("server:stop", "--socket", str(path), cwd=project)
        assert result.returncode == 0, result.stderr
        assert server.wait_exit(5) == 0
    assert "dropped a garbage frame from control client" in server.output()
    assert not path.exists()


def receive_exactly(client: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = client.recv(size - len(data))
        assert chunk, "the server closed the connection"
        data += chunk
    return data


PLAIN_APP = '''
import click

from framework import App, FrameworkModule, http
from framework.broker import BrokerKeyValue


class Hello:
    def __init__(self, kv: BrokerKeyValue) -> None:
        self.kv = kv

    @http.get("/hello")
    async def hello(self) -> dict:
        await self.kv.set("greeted", "yes")
        return {"message": "hello"}


@click.command("greeted")
async def greeted(kv: BrokerKeyValue) -> None:
    click.echo(f"greeted: {await kv.get('greeted')}")


app = App(imports=[FrameworkModule()], controllers=[Hello],
          commands=[greeted])  # the default name, "app"
'''


def test_a_cli_in_another_project_never_finds_or_stops_this_projects_server(
        tmp_path: Path) -> None:
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    for directory in (mine, theirs):
        directory.mkdir()
        (directory / "app.py").write_text(PLAIN_APP)
    with ServerProcess("app:app", "--workers", "1", cwd=mine) as server:
        server.wait_serving()
        wait_for(lambda: serving_pids(server) or None, timeout=20, message="a worker serving")
        elsewhere = [
            ([], {}),                                           # found by name: not theirs
            ([], {"APP_FRAMEWORK_PORT": str(free_port())}),     # configured port: nothing
            (["--port", str(server.port)], {}),                 # named port: another's
        ]
        for args, env in elsewhere:
            for command in ("server:status", "server:stop", "server:reload", "queue:status"):
                result = run_fw(command, *args, cwd=theirs, env=env)
                assert result.returncode == 2, (command, args, env, result)
                assert result.stdout == "" and len(result.stderr.splitlines()) == 1
        refused = run_fw("server:stop", "--port", str(server.port), cwd=theirs).stderr
        assert f"is app app of {mine.resolve()}, not app app of {theirs.resolve()}" in refused

        answer = urllib.request.urlopen(f"{server.url}/hello", timeout=10)
        assert json.loads(answer.read()) == {"message": "hello"}      # still serving
        assert server.process.poll() is None
        # A module command uses its own project's server's broker, never another's.
        assert run_fw("greeted", cwd=mine).stdout == "greeted: yes\n"
        assert run_fw("greeted", cwd=theirs).stdout == "greeted: None\n"

        # This project's own CLI finds it without --port, and says whose it is.
        own = run_fw("server:status", "--json", cwd=mine)
        assert own.returncode == 0, own.stderr
        status = json.loads(own.stdout)
        assert (status["pid"], status["app"], status["project"], status["address"]) == (
            server.pid, "app", str(mine.resolve()), server.url)
        table = run_fw("server:status", cwd=mine).stdout.splitlines()[0]
        assert table.startswith(f"master {server.pid}  app app  project {mine.resolve()}  "
                                f"{server.url}  ")
        stopped = run_fw("server:stop", cwd=mine)
        assert stopped.returncode == 0, stopped.stderr
        assert server.wait_exit(10) == 0
