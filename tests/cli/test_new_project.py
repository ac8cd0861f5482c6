"""`fw new`: the project it makes installs, passes its own tests and serves with workers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.support import REPO, free_port, port_accepts, run_fw, wait_for


def post_json(url: str, payload: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json",
                                              "Connection": "close"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def get_json(url: str) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Connection": "close"}),
                                timeout=10) as response:
        return json.loads(response.read())


def test_new_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "keep.txt").write_text("mine")
    result = run_fw("new", "demo", cwd=tmp_path)
    assert result.returncode == 2
    assert "already exists and is not empty" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("name", ["1demo", "my demo", "class", "dé"])
def test_new_refuses_an_invalid_name(tmp_path: Path, name: str) -> None:
    result = run_fw("new", name, cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid project name" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_new_renders_the_name_into_the_project(tmp_path: Path) -> None:
    result = run_fw("new", "my-shop", "--directory", str(tmp_path / "shop"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    project = tmp_path / "shop"
    assert (project / "my_shop" / "module.py").is_file()
    assert 'name = "my-shop"' in (project / "pyproject.toml").read_text()
    assert "from my_shop.module import MainModule" in (project / "app.py").read_text()
    assert "{{" not in "".join(p.read_text() for p in project.rglob("*") if p.is_file())
    assert "pip install" in result.stdout and "fw server:start" in result.stdout


FRESH_VENV = "python3 -m venv .venv && . .venv/bin/activate"


def printed_steps(stdout: str) -> list[str]:
    """The shell lines `fw new` printed under "Next" (indented by four spaces)."""
    return [line[4:] for line in stdout.splitlines() if line.startswith("    ")]


def shell_env(path_first: Path | None = None) -> dict[str, str]:
    """A user's shell: this environment without the suite's Python, pytest and app variables,
    and pip refusing to install outside a virtual environment."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("APP_", "FW_APP", "PYTEST_", "PYTHON", "VIRTUAL_ENV"))}
    if path_first is not None:
        env["VIRTUAL_ENV"] = str(path_first.parent)
        env["PATH"] = os.pathsep.join([str(path_first), env.get("PATH", "")])
    return {**env, "PIP_REQUIRE_VIRTUALENV": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def follow_install_steps(steps: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run the printed steps up to serving, verbatim, in one bash; their output."""
    assert steps[1] == FRESH_VENV, steps  # nothing is installed outside the new venv
    assert steps[-1] == "fw server:start --workers 2", steps
    script = "\n".join(["set -euo pipefail", *steps[:-1]])
    done = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=540)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_new_projects_printed_steps_install_test_and_serve_it_in_a_fresh_venv(
        tmp_path: Path) -> None:
    made = run_fw("new", "demo", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    steps = printed_steps(made.stdout)
    assert f"python3 -m pip install -e {REPO}" in steps  # fw new ran from this checkout
    output = follow_install_steps(steps, tmp_path, shell_env())
    assert "4 passed" in output

    port = free_port()
    activate = FRESH_VENV.split(" && ")[1]
    log = tmp_path / "server.log"
    with started(f"{steps[0]} && {activate} && exec {steps[-1]}", cwd=tmp_path, log=log,
                 env={**shell_env(), "APP_FRAMEWORK_PORT": str(port)}) as server:
        def serving() -> bool:
            assert server.poll() is None, f"exited {server.returncode}: {log.read_text()}"
            return port_accepts(port)

        wait_for(serving, 60, message="the new project serving")
        url = f"http://127.0.0.1:{port}"
        assert get_json(f"{url}/hello/Ada")["message"] == "Hello, Ada!"
        workers, values = set(), []
        for call_id in range(60):
            reply = post_json(f"{url}/rpc", {"jsonrpc": "2.0", "id": call_id,
                                             "method": "counter.increment"})
            workers.add(reply["result"]["worker"])
            values.append(reply["result"]["value"])
            if workers == {1, 2} and call_id >= 10:
                break
        assert workers == {1, 2}
        assert values == list(range(1, len(values) + 1))
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0, log.read_text()


def test_the_new_project_path_works_from_inside_a_venv(tmp_path: Path) -> None:
    """fw installed (not editable) in a venv; `fw new` there; its steps make a venv from it."""
    source = tmp_path / "fw-source"  # a copy: building fw writes build/ beside its sources
    for part in ("framework", "app_template"):
        shutil.copytree(REPO / part, source / part,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / part, source / part)
    outer = tmp_path / "outer-venv"
    subprocess.run([sys.executable, "-m", "venv", str(outer)], check=True, timeout=120)
    env = shell_env(path_first=outer / "bin")
    install = subprocess.run([str(outer / "bin" / "python"), "-m", "pip", "install", "--quiet",
                              str(source)], env=env, capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr

    work = tmp_path / "work"
    work.mkdir()
    made = subprocess.run(["fw", "new", "demo"], cwd=work, env=env, capture_output=True,
                          text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    steps = printed_steps(made.stdout)
    assert f"python3 -m pip install {source}" in steps
    assert "4 passed" in follow_install_steps(steps, work, env)
    greeting = subprocess.run([".venv/bin/python", "app.py", "greet", "Ada"], cwd=work / "demo",
                              env=env, capture_output=True, text=True, timeout=60)
    assert greeting.stdout == "Hello, Ada!\n", greeting.stderr


@contextmanager
def started(command: str, cwd: Path, env: dict[str, str],
            log: Path) -> Iterator[subprocess.Popen]:
    """``command`` in bash, in a session of its own, output to ``log``; whatever is left of
    that session is killed on exit."""
    with log.open("wb") as output:
        process = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield process
        finally:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
