"""fw queue:status, queue:retry and queue:purge against a running server's pipe broker: a job
that always fails is dead after its attempts, shows in the status, and runs again after a
retry; a purge drops it; with no server running each says so in one line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from framework.broker import BrokerQueue
from framework.broker.redis_adapter import RedisAdapter
from tests.support import ServerProcess, free_port, run_fw, wait_for

APP = '''
from framework import App, FrameworkModule, event_dispatcher, http
from framework.broker import BrokerKeyValue, BrokerQueue
from framework.events import on_server_worker_bootstrap


class FailingConsumer:
    """Consumes "reports" in each worker; every attempt is counted, then raises."""

    def __init__(self, queue: BrokerQueue, kv: BrokerKeyValue) -> None:
        self.queue, self.kv = queue, kv

    @event_dispatcher.listen(on_server_worker_bootstrap)
    async def start(self, event) -> None:
        self.consumer = await self.queue.consume("reports", self.handle, max_attempts=2)

    async def handle(self, message: dict) -> None:
        await self.kv.increment("attempts")
        raise RuntimeError(f"report {message['id']} cannot be built")


class ReportController:
    def __init__(self, queue: BrokerQueue, kv: BrokerKeyValue) -> None:
        self.queue, self.kv = queue, kv

    @http.get("/produce/{id}")
    async def produce(self, id: int) -> dict:
        await self.queue.produce("reports", {"id": id})
        return {"produced": id}

    @http.get("/attempts")
    async def attempts(self) -> dict:
        return {"attempts": await self.kv.get("attempts") or 0}


app = App(imports=[FrameworkModule()], providers=[FailingConsumer],
          controllers=[ReportController], listeners=[FailingConsumer], name="queue-test")
'''


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    (tmp_path / "app.py").write_text(APP)
    with ServerProcess("app:app", "--workers", "2", cwd=tmp_path) as running:
        running.wait_serving()
        yield running


def fw(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return run_fw(*args, "--app", "app:app", "--port", str(server.port), cwd=server.cwd)


def get(server: ServerProcess, path: str) -> Any:
    with urllib.request.urlopen(f"{server.url}{path}", timeout=10) as answer:
        return json.loads(answer.read())


def queue_status(server: ServerProcess) -> dict[str, dict[str, int]]:
    result = fw(server, "queue:status", "--json")
    assert result.returncode == 0, result.stderr
    status: dict[str, dict[str, int]] = json.loads(result.stdout)
    return status


def dead_in(server: ServerProcess, count: int) -> dict[str, int] | None:
    counts = queue_status(server).get("reports")
    return counts if counts is not None and counts["dead"] == count else None


def test_a_dead_job_shows_in_the_status_and_runs_again_after_retry(
        server: ServerProcess) -> None:
    assert get(server, "/produce/7") == {"produced": 7}
    counts = wait_for(lambda: dead_in(server, 1), timeout=30, message="the job dead")
    assert counts == {"waiting": 0, "delayed": 0, "running": 0, "dead": 1}
    assert get(server, "/attempts") == {"attempts": 2}  # max_attempts, then no more

    table = fw(server, "queue:status")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["queue", "waiting", "delayed", "running",
                                                    "dead"]
    assert ["reports", "0", "0", "0", "1"] in [line.split() for line in
                                               table.stdout.splitlines()[1:]]

    retried = fw(server, "queue:retry", "reports")
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.strip() == "1 dead jobs of reports back to waiting"
    wait_for(lambda: get(server, "/attempts")["attempts"] == 4, timeout=30,
             message="two more attempts after the retry")
    wait_for(lambda: dead_in(server, 1), timeout=30, message="the job dead again")


def test_purge_drops_the_dead_jobs_of_a_queue(server: ServerProcess) -> None:
    for job in (1, 2):
        get(server, f"/produce/{job}")
    wait_for(lambda: dead_in(server, 2), timeout=30, message="both jobs dead")

    purged = fw(server, "queue:purge", "reports")
    assert purged.returncode == 0, purged.stderr
    assert purged.stdout.strip() == "2 jobs of reports dropped"
    assert dead_in(server, 0) is not None

    refused = fw(server, "queue:purge", "")
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "Traceback" not in refused.stderr


def test_with_no_server_running_a_queue_command_says_so_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    port = str(free_port())
    for args in (["queue:status", "--json"], ["queue:retry", "reports"],
                 ["queue:purge", "reports"]):
        result = run_fw(*args, "--app", "app:app", "--port", port, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "no server running" in result.stderr


def test_with_a_redis_broker_the_commands_act_on_redis_with_no_server(
        tmp_path: Path, redis_url: str) -> None:
    (tmp_path / "app.py").write_text(APP)
    queue_name = f"reports-{free_port()}"  # the session's Redis is shared by other tests

    async def produce_delayed() -> None:
        adapter = RedisAdapter(redis_url)
        try:
            await BrokerQueue(adapter).produce(queue_name, {"id": 1}, delay=600)
        finally:
            await adapter.close()
    asyncio.run(produce_delayed())

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = run_fw(*args, "--app", "app:app", cwd=tmp_path,
                        env={"APP_FRAMEWORK_BROKER_URL": redis_url})
        assert result.returncode == 0, result.stderr
        return result

    status = json.loads(run("queue:status", "--json").stdout)
    assert status[queue_name] == {"waiting": 0, "delayed": 1, "running": 0, "dead": 0}
    assert run("queue:purge", queue_name).stdout.strip() == f"1 jobs of {queue_name} dropped"
    counts = json.loads(run("queue:status", "--json").stdout).get(queue_name)
    assert counts in (None, {"waiting": 0, "delayed": 0, "running": 0, "dead": 0})
