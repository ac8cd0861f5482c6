"""workers=0 and the testing app: the one process plays the master and a worker, so it fires
the server, main and worker events, each exactly once, in DESIGN.md's order."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from framework import App, FrameworkModule, Module, event_dispatcher, events
from framework.testing import create_testing_app
from tests.support import ServerProcess

ORDER = ["on_server_bootstrap", "on_server_main_bootstrap", "on_server_worker_bootstrap",
         "on_server_bootstrap_done", "on_server_main_bootstrap_done",
         "on_server_worker_bootstrap_done",
         "on_server_worker_shutdown", "on_server_main_shutdown", "on_server_shutdown"]
SERVING = ORDER[:6]


class RoleJournal:
    """Notes every server event of this process with the ProcessInfo it carried, and prints
    it as a JSON line (for a test reading a server's output)."""

    def __init__(self) -> None:
        self.seen: list[dict] = []

    def note(self, name: str, event: events.ServerEvent) -> None:
        process = event.process
        entry = {"event": name, "is_master": process.is_master, "is_worker": process.is_worker,
                 "worker_id": process.worker_id, "pid": process.pid}
        self.seen.append(entry)
        print(f"journal {json.dumps(entry)}", flush=True)


def _noting(name: str):
    def listener(self: RoleJournal, event: events.ServerEvent) -> None:
        self.note(name, event)
    return event_dispatcher.listen(getattr(events, name))(listener)


for _name in ORDER:
    setattr(RoleJournal, _name, _noting(_name))


class JournalModule(Module):
    name = "journal"
    listeners = [RoleJournal]


app = App(imports=[FrameworkModule(), JournalModule()], name="one-process")


def journal_lines(output: str) -> list[dict]:
    return [json.loads(line.split("journal ", 1)[1]) for line in output.splitlines()
            if line.startswith("journal ")]


def one_process(pid: int) -> dict:
    return {"is_master": True, "is_worker": False, "worker_id": None, "pid": pid}


def test_workers_0_fires_every_role_once_in_order(tmp_path: Path) -> None:
    with ServerProcess("tests.server.test_one_process_events:app", cwd=tmp_path) as server:
        server.wait_serving()
        server.signal(signal.SIGTERM)
        assert server.wait_exit(30) == 0, server.output()
        seen = journal_lines(server.output())
    assert [entry.pop("event") for entry in seen] == ORDER
    assert seen == [one_process(server.pid)] * len(ORDER)


async def test_the_testing_app_fires_every_role_once_in_order() -> None:
    testing = create_testing_app(imports=[FrameworkModule(workers=4), JournalModule()])
    journal = testing.get(RoleJournal)
    async with testing:
        assert [entry["event"] for entry in journal.seen] == SERVING
    assert [entry.pop("event") for entry in journal.seen] == ORDER
    assert journal.seen == [one_process(os.getpid())] * len(ORDER)
