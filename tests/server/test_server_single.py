"""`fw server:start` with workers=0: lifecycle events, signals, graceful stop, bind errors."""

from __future__ import annotations

import json
import signal
import socket
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path

import pytest

from framework import App, FrameworkModule, Module, event_dispatcher
from framework.events import (
    ServerEvent,
    on_server_bootstrap,
    on_server_bootstrap_done,
    on_server_main_bootstrap,
    on_server_main_bootstrap_done,
    on_server_main_shutdown,
    on_server_shutdown,
)
from tests.http.test_http_server import UserModule, say
from tests.support import ServerProcess, free_port, port_accepts, serving_with_marks, wait_for

LIFECYCLE = [on_server_bootstrap, on_server_main_bootstrap, on_server_bootstrap_done,
             on_server_main_bootstrap_done, on_server_main_shutdown, on_server_shutdown]


class LifecycleReporter:
    """Prints one line per lifecycle event, with the process it fired in."""

    def _report(self, name: str, event: ServerEvent) -> None:
        say(f"event {name} master={event.process.is_master} pid={event.process.pid}")

    @event_dispatcher.listen(on_server_bootstrap)
    def bootstrap(self, event: ServerEvent) -> None:
        self._report("on_server_bootstrap", event)

    @event_dispatcher.listen(on_server_main_bootstrap)
    async def main_bootstrap(self, event: ServerEvent) -> None:
        self._report("on_server_main_bootstrap", event)

    @event_dispatcher.listen(on_server_bootstrap_done)
    def bootstrap_done(self, event: ServerEvent) -> None:
        self._report("on_server_bootstrap_done", event)

    @event_dispatcher.listen(on_server_main_bootstrap_done)
    def main_bootstrap_done(self, event: ServerEvent) -> None:
        self._report("on_server_main_bootstrap_done", event)

    @event_dispatcher.listen(on_server_shutdown)
    async def shutdown(self, event: ServerEvent) -> None:
        self._report("on_server_shutdown", event)

    @event_dispatcher.listen(on_server_main_shutdown)
    def main_shutdown(self, event: ServerEvent) -> None:
        self._report("on_server_main_shutdown", event)


class LifecycleModule(Module):
    name = "lifecycle"
    listeners = [LifecycleReporter]


app = App(imports=[FrameworkModule(graceful_shutdown_timeout=20), UserModule(),
                   LifecycleModule()], name="lifecycle-test")


class FailingBootstrap:
    @event_dispatcher.listen(on_server_bootstrap)
    def connect(self, event: ServerEvent) -> None:
        raise RuntimeError("no database at db.internal:5432")


class FailingModule(Module):
    name = "failing"
    listeners = [FailingBootstrap]


failing_app = App(imports=[FrameworkModule(), UserModule(), FailingModule()])


@pytest.fixture
def server(tmp_path: Path):
    with serving_with_marks("tests.server.test_server_single:app", tmp_path) as process:
        yield process


def events_in(output: str) -> list[str]:
    return [line.split("event ", 1)[1].split()[0] for line in output.splitlines()
            if "event on_" in line]


def get(port: int, path: str) -> tuple[int, dict]:
    connection = HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_bootstrap_events_fire_in_order_before_a_start_up_line(server: ServerProcess) -> None:
    wait_for(lambda: "on_server_main_bootstrap_done" in server.output(), message="done events")
    output = server.output()
    assert events_in(output) == [token.name for token in LIFECYCLE[:4]]
    assert f"pid={server.pid}" in output and "master=True" in output
    assert f"serving lifecycle-test on http://127.0.0.1:{server.port}" in output
    assert output.index("on_server_main_bootstrap ") < output.index("serving lifecycle-test")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_lets_the_request_in_flight_finish_then_shuts_down(
        server: ServerProcess, signum: int) -> None:
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(get, server.port, "/slow?seconds=1.5")
        wait_for(lambda: (server.marks / "slow-started").exists(), message="slow request")
        server.signal(signum)
        wait_for(lambda: not port_accepts(server.port), message="listening socket closed")
        assert slow.result(timeout=30) == (200, {"slept": 1.5})
    assert server.wait_exit() == 0
    output = server.output()
    assert events_in(output) == [token.name for token in LIFECYCLE]
    assert output.index("on_server_main_shutdown") < output.index("resource torn down")


def test_a_second_signal_stops_at_once(server: ServerProcess) -> None:
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(get, server.port, "/slow?seconds=600")
        wait_for(lambda: (server.marks / "slow-started").exists(), message="slow request")
        server.signal(signal.SIGTERM)
        wait_for(lambda: "stopping gracefully" in server.output(), message="graceful stop")
        server.signal(signal.SIGTERM)
        assert server.wait_exit() == 1
        with pytest.raises(OSError):
            slow.result(timeout=30)
    assert "SIGTERM again: stopping at once" in server.output()


def test_a_port_in_use_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with ServerProcess("tests.server.test_server_single:app", cwd=tmp_path,
                           port=port) as process:
            assert process.wait_exit() == 2
            output = process.output().strip()
    assert output.splitlines()[-1] == (
        f"fw: cannot listen on 127.0.0.1:{port}: address already in use "
        "(is another server running there?)")
    assert "Traceback" not in output
    assert "event on_" not in output


def test_a_failing_bootstrap_listener_stops_start_up_naming_it(tmp_path: Path) -> None:
    port = free_port()
    with ServerProcess("tests.server.test_server_single:failing_app", cwd=tmp_path,
                       port=port) as process:
        assert process.wait_exit() == 1
        output = process.output()
    assert ("start-up failed: ListenerError: listener FailingBootstrap.connect failed on "
            "on_server_bootstrap: RuntimeError: no database at db.internal:5432") in output
    assert not port_accepts(port)


def test_the_pid_file_names_the_process_while_it_serves(tmp_path: Path) -> None:
    pid_file = tmp_path / "run" / "fw.pid"
    with ServerProcess("tests.server.test_server_single:app", "--pid-file", str(pid_file),
                       cwd=tmp_path) as process:
        process.wait_serving()
        assert pid_file.read_text().strip() == str(process.pid)
        assert process.stop() == 0
    assert not pid_file.exists()
