"""FrameworkConfig.loop: workers and the one process run uvloop by default (a dependency of
fw), asyncio's loop when asked; server:status says which. Real servers, real requests."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.support import ServerProcess, run_fw, serving_pids, wait_for

APP = '''
import asyncio
import os

from framework import App, FrameworkModule, http


class LoopController:
    @http.get("/loop")
    async def loop(self) -> dict:
        return {"loop": type(asyncio.get_running_loop()).__module__.partition(".")[0],
                "pid": os.getpid()}


app = App(imports=[FrameworkModule()], controllers=[LoopController])
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


def loop_of(url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{url}/loop", timeout=10) as answer:
        loop: dict[str, object] = json.loads(answer.read())
    return loop


@pytest.mark.parametrize("workers", ["0", "2"])
@pytest.mark.parametrize(("choice", "expected"), [(None, "uvloop"), ("asyncio", "asyncio"),
                                                  ("uvloop", "uvloop")])
def test_the_serving_processes_run_the_chosen_loop_and_status_says_which(
        project: Path, workers: str, choice: str | None, expected: str) -> None:
    env = {"APP_FRAMEWORK_LOOP": choice} if choice else {}
    with ServerProcess("app:app", "--workers", workers, cwd=project, env=env) as server:
        server.wait_serving()
        if workers != "0":
            wait_for(lambda: len(serving_pids(server)) == 2, timeout=20,
                     message="2 workers serving")
        answers = [loop_of(server.url) for _ in range(8)]
        assert {answer["loop"] for answer in answers} == {expected}
        status = run_fw("server:status", "--json", "--port", str(server.port), cwd=project,
                        env=env)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["loop"] == expected
        table = run_fw("server:status", "--port", str(server.port), cwd=project, env=env)
        assert f"  loop {expected}  " in table.stdout.splitlines()[0]


def test_a_loop_fw_does_not_know_stops_start_up_naming_the_variable(project: Path) -> None:
    result = run_fw("server:start", "--port", "0", cwd=project,
                    env={"APP_FRAMEWORK_LOOP": "trio"})
    assert result.returncode == 2
    assert "APP_FRAMEWORK_LOOP" in result.stderr and "'trio'" in result.stderr, result.stderr


NO_UVLOOP = """
import sys


class NoUvloop:
    \"\"\"Makes uvloop impossible to import, as on a machine without it.\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name == "uvloop":
            raise ModuleNotFoundError("No module named 'uvloop'")
        return None


sys.meta_path.insert(0, NoUvloop())
"""


def test_without_uvloop_auto_serves_on_asyncio_and_uvloop_stops_start_up(
        project: Path, tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(NO_UVLOOP)
    env = {"PYTHONPATH": str(hooks)}  # after the project and fw (tests/support.py)
    with ServerProcess("app:app", "--workers", "0", cwd=project, env=env) as server:
        server.wait_serving()
        assert loop_of(server.url)["loop"] == "asyncio"
    with ServerProcess("app:app", "--workers", "0", cwd=project,
                       env={**env, "APP_FRAMEWORK_LOOP": "uvloop"}) as refused:
        assert refused.wait_exit() == 2
        assert "'uvloop' is not installed" in refused.output(), refused.output()
