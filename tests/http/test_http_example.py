"""examples/hello answers as its README says, served the way a newcomer serves it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support import REPO, ServerProcess, free_port, port_accepts, wait_for

EXAMPLE = REPO / "examples" / "hello"


def call(url: str, data: bytes | None = None) -> dict:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.parametrize("workers", ["0", "2"])
def test_the_hello_example_answers(tmp_path: Path, workers: str) -> None:
    with ServerProcess("app:app", "--workers", workers, cwd=tmp_path,
                       env={"PYTHONPATH": str(EXAMPLE)}) as server:
        server.wait_serving()
        assert call(f"{server.url}/hello/world")["message"] == "Hello, world!"
        assert call(f"{server.url}/hello/world?shout=1")["message"] == "HELLO, WORLD!"
        counts = [call(f"{server.url}/visits", b"")["visits"] for _ in range(4)]
        assert counts == [1, 2, 3, 4]
        answer = call(f"{server.url}/rpc", json.dumps(
            {"jsonrpc": "2.0", "method": "greeter.greet", "params": ["Ada"], "id": 1}).encode())
        assert answer == {"jsonrpc": "2.0", "result": "Hello, Ada!", "id": 1}
        assert server.stop() == 0


def test_python_app_py_server_start_serves_it_too(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(tmp_path / "server.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "app.py", "server:start", "--port", str(port)],
                                   cwd=EXAMPLE, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: port_accepts(port), timeout=15, message="python app.py serving")
            assert call(f"http://127.0.0.1:{port}/hello/you")["message"] == "Hello, you!"
            process.send_signal(signal.SIGINT)
            assert process.wait(20) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
