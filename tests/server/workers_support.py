"""A real app for the multi-process tests, and helpers to drive it over loopback.

The app records every lifecycle event, in whichever process it fires, as a JSON line in the
file named by FW_TEST_RECORD, so a test can check which process did what, in which order.
"""

from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path
from typing import Any

from tests.support import ServerProcess, pid_alive, wait_for

APP_SOURCE = '''
"""The app the worker tests serve."""

import asyncio
import dataclasses
import json
import os
import threading
import time
from pathlib import Path

from framework import App, FrameworkModule, ProcessInfo, event_dispatcher, http, process_info
from framework import events
from framework.server.master.supervisor import Supervisor

RECORD = Path(os.environ["FW_TEST_RECORD"])


def record(event, **fields):
    line = {"event": event, "pid": os.getpid(), "worker_id": process_info().worker_id, **fields}
    with RECORD.open("a") as out:
        out.write(json.dumps(line) + "\\n")


class Greeter:
    """A user singleton: it records the process that built it."""

    def __init__(self) -> None:
        record("greeter_built")


class HelloController:
    def __init__(self, greeter: Greeter, process: ProcessInfo) -> None:
        self.process = process

    @http.get("/hello")
    async def hello(self) -> dict:
        return {"pid": os.getpid(), "worker_id": self.process.worker_id}

    @http.get("/slow")
    async def slow(self, seconds: float) -> dict:
        record("slow_started")
        await asyncio.sleep(seconds)
        record("slow_finished")
        return {"pid": os.getpid(), "slept": seconds}

    @http.get("/block")
    async def block(self, seconds: float) -> dict:
        record("block_started")
        time.sleep(seconds)  # a blocked event loop: no heartbeats
        return {"pid": os.getpid()}


def recorder(token):
    def listener(event):
        record(token.name)
    return event_dispatcher.listen(token)(listener)


SERVER_TOKENS = [events.on_server_bootstrap, events.on_server_main_bootstrap,
                 events.on_server_worker_bootstrap, events.on_server_bootstrap_done,
                 events.on_server_main_bootstrap_done, events.on_server_worker_bootstrap_done,
                 events.on_server_shutdown, events.on_server_main_shutdown,
                 events.on_server_worker_shutdown]


class WorkerWatch:
    """Master side: worker online/exit events, and Supervisor figures when asked for."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.task = None

    @event_dispatcher.listen(events.on_worker_online)
    def online(self, event: events.WorkerEvent) -> None:
        record("on_worker_online", worker=dataclasses.asdict(event))

    @event_dispatcher.listen(events.on_worker_exit)
    def exited(self, event: events.WorkerEvent) -> None:
        record("on_worker_exit", worker=dataclasses.asdict(event))

    @event_dispatcher.listen(events.on_server_main_bootstrap_done)
    def watch(self, event) -> None:
        if os.environ.get("FW_TEST_STATS"):
            self.task = asyncio.get_running_loop().create_task(self.write_stats())

    @event_dispatcher.listen(events.on_server_main_shutdown)
    def unwatch(self, event) -> None:
        if self.task is not None:
            self.task.cancel()

    async def write_stats(self) -> None:
        target = Path(os.environ["FW_TEST_STATS"])
        while True:
            stats = await self.supervisor.stats()
            partial = target.with_suffix(".partial")
            partial.write_text(json.dumps({
                "workers": [dataclasses.asdict(info) for info in self.supervisor.workers],
                "stats": [dataclasses.asdict(figures) for figures in stats]}))
            partial.replace(target)
            await asyncio.sleep(0.1)


@event_dispatcher.listen(events.on_server_worker_bootstrap)
def connect_database(event) -> None:
    if os.environ.get("FW_TEST_FAIL_BOOT"):
        raise RuntimeError("database unreachable")


@event_dispatcher.listen(events.on_server_main_bootstrap)
def start_scheduler(event) -> None:
    if os.environ.get("FW_TEST_FAIL_MAIN"):
        raise RuntimeError("scheduler misconfigured")
    if os.environ.get("FW_TEST_MASTER_THREAD"):
        threading.Thread(target=threading.Event().wait, name="scheduler", daemon=True).start()


app = App(imports=[FrameworkModule(worker_timeout=5, graceful_shutdown_timeout=5)],
          providers=[Greeter], controllers=[HelloController],
          listeners=[*[recorder(token) for token in SERVER_TOKENS], WorkerWatch,
                     connect_database, start_scheduler],
          name="workers-test")
app.load_config_from_env()
'''


class Record:
    """The JSON lines the app's processes wrote."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def of(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["event"] == event]


class WorkerServer(ServerProcess):
    """``fw server:start`` of the recording app, with FrameworkConfig fields as env vars."""

    def __init__(self, tmp_path: Path, workers: int | str = 2, *args: str,
                 env: dict[str, str] | None = None, **config: Any) -> None:
        (tmp_path / "workers_app.py").write_text(APP_SOURCE)
        self.record = Record(tmp_path / "record.jsonl")
        self.stats_path = tmp_path / "stats.json"
        variables = {f"APP_FRAMEWORK_{name.upper()}": str(value)
                     for name, value in config.items()}
        variables["APP_FRAMEWORK_WORKERS"] = str(workers)
        variables["FW_TEST_RECORD"] = str(self.record.path)
        super().__init__("workers_app:app", *args, cwd=tmp_path,
                         env={**variables, **(env or {})})

    def workers(self) -> list[int]:
        """The master's live children (remembered, so that stop() reaps them all)."""
        return [pid for pid in self.remember_children() if pid_alive(pid)]

    def wait_workers(self, count: int, timeout: float = 15.0) -> list[int]:
        """Wait until ``count`` workers announced themselves online and still run."""
        def online() -> list[int] | None:
            if self.process.poll() is not None:
                raise AssertionError(f"master exited with {self.process.returncode}:\n"
                                     f"{self.output()}")
            live = set(self.workers())
            serving = {line["worker"]["pid"] for line in self.record.of("on_worker_online")}
            ready = sorted(live & serving)
            return ready if len(ready) == count and len(live) == count else None
        return wait_for(online, timeout, message=f"{count} workers online")

    def stats(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.stats_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None


def get(port: int, path: str, timeout: float = 10.0) -> tuple[int, dict[str, Any]]:
    """One request on a fresh connection: (status, JSON body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


class Load:
    """Clients sending requests on fresh connections, one after another, until stopped."""

    def __init__(self, port: int, clients: int = 2) -> None:
        self.port = port
        self.ok = 0
        self.failures: list[str] = []
        self.pids: list[int] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                status, body = get(self.port, "/hello", timeout=10)
            except (OSError, http.client.HTTPException, ValueError) as error:
                with self._lock:
                    self.failures.append(repr(error))
                continue
            with self._lock:
                if status == 200:
                    self.ok += 1
                    self.pids.append(body["pid"])
                else:
                    self.failures.append(f"status {status}")

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(15)


def no_children_left(pids: list[int]) -> bool:
    return not any(pid_alive(pid) for pid in pids)
