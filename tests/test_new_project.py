"""`fw new`: the project it makes installs, passes its own tests and serves with workers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support import ServerProcess, run_fw


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


def test_new_project_installs_passes_its_tests_and_serves_with_two_workers(
        tmp_path: Path) -> None:
    assert run_fw("new", "demo", cwd=tmp_path).returncode == 0
    project = tmp_path / "demo"
    venv = tmp_path / "venv"
    # --without-pip: the venv uses the checkout's pip and setuptools (and fw) from the
    # system site-packages instead of the older copies venv would bundle.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-build-isolation", "-e", f"{project}[test]"],
        capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr

    own_tests = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                               cwd=project, capture_output=True, text=True, timeout=300)
    assert own_tests.returncode == 0, own_tests.stdout + own_tests.stderr
    assert "3 passed" in own_tests.stdout

    with ServerProcess("app:app", "--workers", "2", cwd=project) as server:
        server.wait_serving(timeout=30)
        assert get_json(f"{server.url}/hello/Ada")["message"] == "Hello, Ada!"
        workers, values = set(), []
        for call_id in range(60):
            reply = post_json(f"{server.url}/rpc", {"jsonrpc": "2.0", "id": call_id,
                                                   "method": "counter.increment"})
            workers.add(reply["result"]["worker"])
            values.append(reply["result"]["value"])
            if workers == {1, 2} and call_id >= 10:
                break
        assert workers == {1, 2}
        assert values == list(range(1, len(values) + 1))
        server.signal(signal.SIGTERM)
        assert server.wait_exit(30) == 0
