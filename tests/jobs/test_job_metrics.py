"""A server's /metrics counts its jobs per queue: processed, failed, retried and dead, summed
over its workers, as the broker's attempts decide (a real 2-worker server, pipe broker)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import ServerProcess, wait_for

APP = '''
from framework import App, FrameworkModule, event_dispatcher, http
from framework.broker import BrokerQueue
from framework.events import on_server_worker_bootstrap
from framework.jobs.metrics import JobMetrics
from framework.metrics import Metrics


class Reports:
    """Consumes "reports" in each worker: a message asking to fail always raises."""

    def __init__(self, queue: BrokerQueue, metrics: Metrics) -> None:
        self.queue, self.metrics = queue, metrics

    @event_dispatcher.listen(on_server_worker_bootstrap)
    async def start(self, event) -> None:
        run = JobMetrics(self.metrics).counted("reports", self.build)
        self.consumer = await self.queue.consume("reports", run, max_attempts=3)

    async def build(self, message: dict) -> None:
        if message["fail"]:
            raise RuntimeError("this report cannot be built")


class ReportController:
    def __init__(self, queue: BrokerQueue) -> None:
        self.queue = queue

    @http.get("/produce/{fail}")
    async def produce(self, fail: bool) -> dict:
        await self.queue.produce("reports", {"fail": fail})
        return {"produced": fail}


app = App(imports=[FrameworkModule(access_log=False)], providers=[Reports],
          controllers=[ReportController], listeners=[Reports], name="job-metrics-test")
'''


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    (tmp_path / "app.py").write_text(APP)
    with ServerProcess("app:app", "--workers", "2", cwd=tmp_path) as running:
        running.wait_serving()
        yield running


def job_counts(server: ServerProcess) -> dict[str, float]:
    """fw_jobs_*_total of the queue "reports" on the server's /metrics, by outcome."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("fw_jobs_") and sample.labels.get("queue") == "reports":
                outcome = sample.name.removeprefix("fw_jobs_").removesuffix("_total")
                counts[outcome] = counts.get(outcome, 0.0) + sample.value
    return counts


def get(server: ServerProcess, path: str) -> Any:
    with urllib.request.urlopen(f"{server.url}{path}", timeout=10) as answer:
        return json.loads(answer.read())


def test_metrics_count_processed_failed_retried_and_dead_jobs_per_queue(
        server: ServerProcess) -> None:
    wait_for(lambda: job_counts(server) == {"processed": 0, "failed": 0, "retried": 0,
                                            "dead": 0},
             timeout=20, message="both workers' counters at zero")
    for fail in ("false", "false", "true"):
        get(server, f"/produce/{fail}")
    expected = {"processed": 2, "failed": 3, "retried": 2, "dead": 1}
    wait_for(lambda: job_counts(server) == expected, timeout=30,
             message=f"the job counters at {expected}")


DECLARED = '''
from framework import App, FrameworkModule, http, jobs
from framework.broker import BrokerQueue


class Reports:
    @jobs.consumer("reports", max_attempts=2)
    async def build(self, message: dict) -> None:
        if message["fail"]:
            raise RuntimeError("this report cannot be built")

    @jobs.every(hours=1)
    async def hourly(self) -> None:
        pass


class ReportController:
    def __init__(self, queue: BrokerQueue) -> None:
        self.queue = queue

    @http.get("/produce/{fail}")
    async def produce(self, fail: bool) -> dict:
        await self.queue.produce("reports", {"fail": fail})
        return {"produced": fail}


app = App(imports=[FrameworkModule(access_log=False)], controllers=[ReportController],
          listeners=[Reports], name="declared-job-metrics-test")
'''


def lease_holders(server: ServerProcess) -> dict[str, float]:
    """fw_scheduler_lease_holder by process (its ``worker`` label)."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {sample.labels["worker"]: sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples
            if sample.name == "fw_scheduler_lease_holder"}


def test_declared_consumers_count_their_jobs_and_one_worker_holds_the_lease(
        tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(DECLARED)
    with ServerProcess("app:app", "--workers", "2", cwd=tmp_path) as server:
        server.wait_serving()
        for fail in ("false", "true"):
            get(server, f"/produce/{fail}")
        expected = {"processed": 1, "failed": 2, "retried": 1, "dead": 1}
        wait_for(lambda: job_counts(server) == expected, timeout=30,
                 message=f"the job counters at {expected}")
        holders = wait_for(lambda: (found := lease_holders(server)) and sorted(
            found.values()) == [0.0, 1.0] and found, timeout=30,
            message="one worker holding the scheduler lease, the other not")
        assert set(holders) == {"1", "2"}
