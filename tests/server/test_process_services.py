"""Per-process services in a real server: each process's container is told what that process
is. ProcessInfo says its role, a worker's BrokerAdapter is its pipe to the master, and
Supervisor resolves in the master (and in the one process, which has no workers) only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.server.workers_support import get
from tests.support import ServerProcess, wait_for

APP_SOURCE = '''
"""Reports, from every process, the services its container gives."""

import dataclasses
import json
import os
from pathlib import Path

from framework import App, FrameworkModule, ProcessInfo, event_dispatcher, events, http
from framework import process_info
from framework.broker import BrokerAdapter
from framework.server.master.supervisor import Supervisor

MASTER_RECORD = Path(os.environ["FW_TEST_RECORD"])


def services(process: ProcessInfo, broker: BrokerAdapter) -> dict:
    try:
        supervised = [[w.worker_id, w.pid] for w in app.get(Supervisor).workers]
    except Exception as error:
        supervised = f"{type(error).__name__}: {error}"
    return {"injected": dataclasses.asdict(process), "asked": dataclasses.asdict(process_info()),
            "broker": type(broker).__name__, "supervisor": supervised}


class ServicesController:
    def __init__(self, process: ProcessInfo, broker: BrokerAdapter) -> None:
        self.process, self.broker = process, broker

    @http.get("/services")
    async def services(self) -> dict:
        return services(self.process, self.broker)


class MasterSide:
    def __init__(self, process: ProcessInfo, broker: BrokerAdapter) -> None:
        self.process, self.broker = process, broker

    @event_dispatcher.listen(events.on_server_main_bootstrap_done)
    def record(self, event) -> None:
        MASTER_RECORD.write_text(json.dumps(services(self.process, self.broker)))


app = App(imports=[FrameworkModule()], controllers=[ServicesController], listeners=[MasterSide],
          name="services-test")
app.load_config_from_env()
'''


def role(pid: int, worker_id: int | None = None) -> dict[str, Any]:
    return {"is_master": worker_id is None, "is_worker": worker_id is not None,
            "worker_id": worker_id, "pid": pid}


def serve(tmp_path: Path, workers: int) -> tuple[dict[str, Any], dict[str, Any], int]:
    """What the master (or one process) recorded and what a request saw; the server's pid."""
    (tmp_path / "services_app.py").write_text(APP_SOURCE)
    record = tmp_path / f"master-{workers}.json"
    env = {"APP_FRAMEWORK_WORKERS": str(workers), "FW_TEST_RECORD": str(record)}
    with ServerProcess("services_app:app", cwd=tmp_path, env=env) as server:
        server.wait_serving()
        master = json.loads(wait_for(lambda: record.exists() and record.read_text(),
                                     message="the master's record"))
        status, seen = get(server.port, "/services")
        assert status == 200, seen
        return master, seen, server.pid


def test_each_process_is_told_what_it_is(tmp_path: Path) -> None:
    master, worker, master_pid = serve(tmp_path, workers=1)
    worker_pid = worker["injected"]["pid"]
    assert worker_pid != master_pid
    assert master == {"injected": role(master_pid), "asked": role(master_pid),
                      "broker": "MemoryAdapter", "supervisor": [[1, worker_pid]]}
    assert worker == {
        "injected": role(worker_pid, 1), "asked": role(worker_pid, 1), "broker": "PipeAdapter",
        "supervisor": "ScopeError: Supervisor is only available in the master process: inject "
                      "it in master-side listeners (on_server_main_bootstrap, on_worker_online, "
                      "...), not in worker 1"}

    one, served, pid = serve(tmp_path, workers=0)
    expected = {"injected": role(pid), "asked": role(pid), "broker": "MemoryAdapter",
                "supervisor": []}
    assert one == served == expected
