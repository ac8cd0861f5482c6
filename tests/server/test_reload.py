"""A reload deploys the code on disk: real 2-worker servers, their files rewritten, then
SIGHUP or ``fw server:reload``, under load on fresh and keep-alive connections.

A new worker imports the app's modules afresh (the app file and the project's other
modules); one that cannot boot stops the reload and the old workers keep serving. Each way
the command line finds the app (``--app``, ``FW_APP``, ``app.py``, ``python app.py``,
``python -m``, ``App.run`` from ``python -c`` code importing it) is found again by the new
workers; an app built in ``python -c`` code itself serves, and a reload says it cannot
reload code.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Set
from functools import partial
from pathlib import Path

import pytest

from tests.server.test_keepalive_restarts import KeepAliveLoad
from tests.server.workers_support import Load, get
from tests.support import ServerProcess, pid_alive, run_fw, wait_for

APP = '''
import dataclasses
import os

from framework import App, FrameworkModule, http
from greeting import GREETING, LISTENERS

VERSION = "{version}"


@dataclasses.dataclass
class Item:
    n: int


class VersionController:
    @http.get("/hello")
    async def hello(self) -> dict:
        return {{"pid": os.getpid(), "version": VERSION, "greeting": GREETING}}

    @http.post("/echo")
    async def echo(self, body: http.Body[Item]) -> dict:
        return {{"pid": os.getpid(), "n": body.n}}


app = App(imports=[FrameworkModule(workers=2, access_log=False, graceful_shutdown_timeout=10)],
          controllers=[VersionController], listeners=LISTENERS, name="reload-test")
'''
MAIN_GUARD = '''
if __name__ == "__main__":
    app.run()
'''
# App.run from code no file holds, the app imported (reload_app) or built right there
RUN_IMPORTED = "import sys, reload_app; reload_app.app.run(['server:start', *sys.argv[1:]])"
RUN_INLINE = APP.replace("from greeting import GREETING, LISTENERS", "GREETING, LISTENERS = "
                         "'hello from v1', []").format(version="v1") + (
    "import sys\napp.run(['server:start', *sys.argv[1:]])\n")
BROKEN = 'VERSION = "v3"\ndef broken(:\n'  # a SyntaxError on line 2
BOOTSTRAP = '''
import asyncio

from framework import event_dispatcher
from framework.events import on_server_worker_bootstrap

GREETING = "hello from v2"


@event_dispatcher.listen(on_server_worker_bootstrap)
async def connect_database(event) -> None:
    {body}

LISTENERS = [connect_database]
'''


def write_version(project: Path, version: str, app_file: str = "reload_app.py",
                  main_guard: bool = False) -> None:
    """The app file and the project module it imports, both saying ``version``."""
    (project / "greeting.py").write_text(f'GREETING = "hello from {version}"\nLISTENERS = []\n')
    (project / app_file).write_text(APP.format(version=version)
                                    + (MAIN_GUARD if main_guard else ""))


def live_workers(server: ServerProcess) -> set[int]:
    return {pid for pid in server.remember_children() if pid_alive(pid)}


def two_workers(server: ServerProcess, other_than: Set[int] = frozenset()) -> set[int] | None:
    live = live_workers(server)
    return live if len(live) == 2 and not live & other_than else None


def every_worker_serves(server: ServerProcess, version: str, workers: set[int]) -> None:
    """Requests on fresh connections until each of ``workers`` answered; all say ``version``."""
    answered: set[int] = set()

    def all_answered() -> bool:
        status, body = get(server.port, "/hello")
        assert status == 200, body
        assert (body["version"], body["greeting"]) == (version, f"hello from {version}"), body
        answered.add(body["pid"])
        return answered >= workers
    wait_for(all_answered, 15, interval=0, message=f"every worker to answer {version}")


def reloads_logged(server: ServerProcess, outcome: str) -> int:
    return len(re.findall(rf"master \d+: reload {outcome}", server.output()))


def first_workers(server: ServerProcess) -> set[int]:
    server.wait_serving()
    workers: set[int] = wait_for(partial(two_workers, server), 15, message="two workers")
    return workers


def reload_by_sighup(server: ServerProcess, old: set[int], version: str) -> set[int]:
    """The first reload, by SIGHUP: the two new workers, once each serves ``version``."""
    server.signal(signal.SIGHUP)
    wait_for(lambda: reloads_logged(server, "done") == 1, 30, message="the reload")
    new: set[int] = wait_for(partial(two_workers, server, old), 15, message="new workers")
    every_worker_serves(server, version, new)
    return new


def fw_reload(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return run_fw("server:reload", "--app", "reload_app:app", "--port", str(server.port),
                  *args, cwd=server.cwd)


def test_a_reload_serves_the_new_code_with_no_failed_request_and_a_broken_file_changes_nothing(
        tmp_path: Path) -> None:
    write_version(tmp_path, "v1")
    with ServerProcess("reload_app:app", cwd=tmp_path) as server:
        first = first_workers(server)
        every_worker_serves(server, "v1", first)
        fresh, kept = Load(server.port, clients=2), KeepAliveLoad(server.port, clients=2)
        with fresh, kept:
            wait_for(lambda: fresh.ok > 50 and kept.ok > 100, 20, message="the load to run")
            write_version(tmp_path, "v2")
            second = reload_by_sighup(server, first, "v2")
            served = fresh.ok, kept.ok
            wait_for(lambda: fresh.ok > served[0] + 50 and kept.ok > served[1] + 100, 20,
                     message="the new workers to serve the load")
        assert fresh.failures == [] and kept.failures == [], \
            (fresh.failures[:5], kept.failures[:5])

        (tmp_path / "greeting.py").write_text(BROKEN)  # the command cannot import it either
        reload = fw_reload(server)
        assert reload.returncode == 1, reload
        assert "SyntaxError" in reload.stderr and "greeting.py, line 2" in reload.stderr, \
            reload.stderr
        assert reloads_logged(server, "to generation 2 failed") == 1
        assert server.process.poll() is None
        wait_for(lambda: live_workers(server) == second, 15, message="the new worker to exit")
        every_worker_serves(server, "v2", second)

        write_version(tmp_path, "v3")
        reload = fw_reload(server)
        assert reload.returncode == 0, reload
        third = wait_for(partial(two_workers, server, second), 15, message="new workers")
        every_worker_serves(server, "v3", third)
        assert server.output().count("failed to boot") == 2  # the worker's and the master's
    assert server.process.returncode == 0


@pytest.mark.parametrize("started", ["FW_APP", "app.py", "python app.py", "python -m pkg",
                                     "python -c import"])
def test_each_way_of_finding_the_app_is_found_again_by_a_reload(
        tmp_path: Path, started: str) -> None:
    fw = [sys.executable, "-m", "framework.cli", "server:start"]
    app_file, env, command = {
        "FW_APP": ("reload_app.py", {"FW_APP": "reload_app:app"}, fw),
        "app.py": ("app.py", {}, fw),
        "python app.py": ("app.py", {}, [sys.executable, "app.py", "server:start"]),
        "python -m pkg": ("pkg/__main__.py", {}, [sys.executable, "-m", "pkg", "server:start"]),
        # no main file: a reload imports the module that holds the App, by its name
        "python -c import": ("reload_app.py", {}, [sys.executable, "-c", RUN_IMPORTED]),
    }[started]
    script = started.startswith("python")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    write_version(tmp_path, "v1", app_file, main_guard=script)
    with ServerProcess("", cwd=tmp_path, env=env, command=command) as server:
        first = first_workers(server)
        write_version(tmp_path, "v2", app_file, main_guard=script)
        reload_by_sighup(server, first, "v2")


def test_a_new_worker_that_does_not_boot_stops_the_reload_and_is_not_tried_again(
        tmp_path: Path) -> None:
    write_version(tmp_path, "v1")
    with ServerProcess("reload_app:app", cwd=tmp_path) as server:
        first = first_workers(server)
        greeting = tmp_path / "greeting.py"

        greeting.write_text("import no_such_module\n")
        server.signal(signal.SIGHUP)
        wait_for(lambda: reloads_logged(server, "to generation 1 failed") == 1, 30,
                 message="the reload to fail")
        assert "ModuleNotFoundError: No module named 'no_such_module'" in server.output()

        greeting.write_text(BOOTSTRAP.format(body='raise RuntimeError("database unreachable")'))
        reload = fw_reload(server)
        assert reload.returncode == 1, reload
        assert "RuntimeError" in reload.stderr and "database unreachable" in reload.stderr

        greeting.write_text(BOOTSTRAP.format(body="await asyncio.sleep(3600)"))
        reload = fw_reload(server, "--timeout", "1")
        assert reload.returncode == 1 and "timed out after 1 s" in reload.stderr, reload

        wait_for(lambda: live_workers(server) == first, 15, message="the new workers gone")
        every_worker_serves(server, "v1", first)
        assert server.output().count(") booting") == 5  # 2 first workers, 1 per reload
    assert server.process.returncode == 0


def test_an_app_built_in_python_c_code_serves_and_a_reload_says_it_cannot_reload_code(
        tmp_path: Path) -> None:
    with ServerProcess("", cwd=tmp_path, command=[sys.executable, "-c", RUN_INLINE]) as server:
        first = first_workers(server)
        every_worker_serves(server, "v1", first)

        reload = run_fw("server:reload", "--port", str(server.port), cwd=tmp_path)
        assert reload.returncode == 1, reload
        [line] = reload.stderr.splitlines()
        assert line.startswith("Error: cannot reload code: no module holds the app"), line
        server.signal(signal.SIGHUP)
        wait_for(lambda: server.output().count("cannot reload code") == 2, 10,
                 message="SIGHUP's refusal in the log")
        assert "Traceback" not in server.output()
        assert live_workers(server) == first
        every_worker_serves(server, "v1", first)
    assert server.process.returncode == 0
