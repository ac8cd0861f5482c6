"""Helpers shared by the tests: free ports, polling with a deadline, real server processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02,
             message: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def run_in_fork(child: Callable[[], str]) -> str:
    """Run ``child`` in a forked process; the text it returns. Fails unless the child exits 0.

    The child leaves with ``os._exit``, so none of the parent's cleanup runs in it.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.write(write_end, child().encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        report = reader.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"the forked child failed: {report!r}"
    return report


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(child) for child in children.read().split()]
    except FileNotFoundError:
        return []


def run_fw(*args: str, cwd: Path, env: dict[str, str] | None = None,
           script: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m framework.cli ARGS`` (or ``script ARGS``) in ``cwd``, finished.

    The caller's APP_* and FW_APP variables are left out, so only ``env`` configures the app.
    """
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "FW_APP"))}
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(REPO)
    command = script or [sys.executable, "-m", "framework.cli"]
    return subprocess.run([*command, *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=60)


class ServerProcess:
    """``fw server:start`` (or any command) in its own process group, stopped and reaped on exit.

    ``app`` is a ``module:attr`` importable from ``cwd``; ``command`` replaces
    ``fw server:start --app APP`` (e.g. ``python app.py server:start``).
    """

    def __init__(self, app: str, *args: str, cwd: Path | str, env: dict[str, str] | None = None,
                 port: int | None = None, command: list[str] | None = None) -> None:
        self.port = port or free_port()
        self.cwd = Path(cwd)
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(self.cwd), str(REPO), full_env.get("PYTHONPATH", "")]))
        self.log_path = self.cwd / f"server-{self.port}.log"
        self._log = open(self.log_path, "wb")
        command = command or [sys.executable, "-m", "framework.cli", "server:start",
                              "--app", app]
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port), *args],
            cwd=self.cwd, env=full_env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._descendants: set[int] = set()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def remember_children(self) -> list[int]:
        children = children_of(self.pid)
        self._descendants.update(children)
        return children

    def wait_serving(self, timeout: float = 15.0) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n"
                                     f"{self.output()}")
            return port_accepts(self.port)
        wait_for(ready, timeout, message=f"server on port {self.port}")
        self.remember_children()

    def signal(self, signum: int) -> None:
        self.remember_children()
        os.kill(self.pid, signum)

    def wait_exit(self, timeout: float = 15.0) -> int:
        return self.process.wait(timeout)

    def stop(self) -> int:
        """SIGTERM, then SIGKILL of the group and of every child seen; always reaps."""
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(5)
        for pid in self._descendants:
            if pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log.close()
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextmanager
def serving_with_marks(app: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """``app`` served from ``tmp_path``, up; its handlers leave files in ``server.marks``
    (the folder named by FW_TEST_MARKS), for tests to wait for."""
    marks = tmp_path / "marks"
    marks.mkdir()
    with ServerProcess(app, cwd=tmp_path, env={"FW_TEST_MARKS": str(marks)}) as process:
        process.wait_serving()
        process.marks = marks
        yield process


def serving_pids(server: ServerProcess, app: str = "app:app") -> list[int]:
    """The pids of the workers ``fw server:status --json`` reports serving."""
    result = run_fw("server:status", "--json", "--app", app, "--port", str(server.port),
                    cwd=server.cwd)
    assert result.returncode == 0, result.stderr
    return [worker["pid"] for worker in json.loads(result.stdout)["workers"]
            if worker["state"] == "serving"]
