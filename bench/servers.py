"""Run a server command for the length of a measurement, on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_env(root: Path = REPO) -> dict[str, str]:
    """The environment of a server under test: the checkout at ``root`` importable first, no
    APP_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    return env


@contextmanager
def serving(command: list[str], port: int, path: str = "/hello",
            root: Path = REPO) -> Iterator[str]:
    """Run ``command`` in the checkout at ``root`` until the block ends; yields its URL of
    ``path`` once the port answers."""
    process = subprocess.Popen(command, cwd=root, env=bench_env(root), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited: {process.stderr.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{command} did not listen on {port}") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}{path}"
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
