"""GET /metrics: the whole server's figures, summed by the master over the workers' pipes.

Real servers on loopback: requests on fresh connections, a worker killed with SIGKILL, a
reload, the one process; the text is read back with prometheus_client's own parser.
"""

from __future__ import annotations

import json
import math
import os
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from framework.metrics import Metrics
from framework.metrics_sum import MetricsSum
from tests.support import ServerProcess, pid_alive, serving_pids, wait_for

APP = '''
import os

from framework import App, FrameworkModule, http, rpc
from framework.broker import BrokerKeyValue
from framework.metrics import Metrics


class HelloController:
    def __init__(self, metrics: Metrics, kv: BrokerKeyValue) -> None:
        self.greeted = metrics.counter("app_greetings_total", "Greetings", ["language"])
        self.kv = kv

    @http.get("/hello/{name}")
    async def hello(self, name: str) -> dict:
        self.greeted.labels(language="en").inc()
        await self.kv.increment("greetings")
        return {"pid": os.getpid()}


@rpc.controller("math")
class MathRpc:
    @rpc.action
    def double(self, n: int) -> int:
        return 2 * n


app = App(imports=[FrameworkModule(access_log=False)], controllers=[HelloController, MathRpc],
          name="metrics-test")
app_without_metrics = App(imports=[FrameworkModule(access_log=False, metrics_path="")],
                          controllers=[HelloController], name="metrics-off")
'''
ROUTE = {"method": "GET", "route": "/hello/{name}", "status": "200"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


@pytest.fixture
def two_workers(project: Path) -> Iterator[ServerProcess]:
    with ServerProcess("app:app", "--workers", "2", cwd=project) as server:
        server.wait_serving()
        wait_for(lambda: len(serving_pids(server)) == 2, timeout=20, message="2 workers serving")
        yield server


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:  # a fresh connection each time
        return json.loads(answer.read())


def scrape(server: ServerProcess) -> dict[str, list[Any]]:
    """Every sample of the server's /metrics, by sample name, parsed by prometheus_client."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = answer.read().decode()
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    """The one sample ``name`` whose labels include ``labels`` (0 when there is none)."""
    found = [s.value for s in samples.get(name, [])
             if all(s.labels.get(key) == wanted for key, wanted in labels.items())]
    assert len(found) <= 1, f"{name} {labels}: {found}"
    return float(found[0]) if found else 0.0


def greet_until_both_workers_answered(server: ServerProcess, at_least: int) -> int:
    """At least ``at_least`` requests, each on a fresh connection, until both workers served
    some; returns how many were sent."""
    pids: set[int] = set()
    sent = 0
    while sent < at_least or len(pids) < 2:
        pids.add(get(f"{server.url}/hello/n{sent}")["pid"])
        sent += 1
        assert sent < 10 * at_least, f"one worker took every connection: {pids}"
    return sent


def test_requests_across_two_workers_sum_exactly_by_route_template(
        two_workers: ServerProcess) -> None:
    server = two_workers
    sent = greet_until_both_workers_answered(server, 300)

    samples = scrape(server)
    assert value(samples, "fw_http_requests_total", **ROUTE) == sent
    assert value(samples, "fw_http_request_duration_seconds_count", method="GET",
                 route="/hello/{name}") == sent
    assert value(samples, "fw_http_request_duration_seconds_bucket", method="GET",
                 route="/hello/{name}", le="+Inf") == sent
    assert value(samples, "app_greetings_total", language="en") == sent  # the app's own
    assert value(samples, "fw_broker_operations_total", kind="kv",
                 operation="increment") == sent
    routes = {s.labels["route"] for s in samples["fw_http_requests_total"]}
    assert not any(route.startswith("/hello/n") for route in routes), routes  # no raw paths
    # gauges: one per worker, labelled with its id
    assert {s.labels["worker"] for s in samples["fw_worker_resident_memory_bytes"]} == {"1", "2"}
    assert all(s.value > 0 for s in samples["fw_worker_resident_memory_bytes"])
    assert value(samples, "fw_workers") == 2


def test_a_killed_workers_counts_are_kept_and_totals_never_drop(
        two_workers: ServerProcess) -> None:
    server = two_workers
    sent = greet_until_both_workers_answered(server, 100)
    scrape(server)  # counted by the worker that answers it, gathered by the next scrape
    before = scrape(server)
    assert value(before, "fw_http_requests_total", **ROUTE) == sent
    assert value(before, "fw_worker_restarts_total") == 0

    killed = serving_pids(server)[0]
    os.kill(killed, signal.SIGKILL)
    wait_for(lambda: len(serving_pids(server)) == 2 and killed not in serving_pids(server),
             timeout=20, message="the killed worker replaced")
    assert not pid_alive(killed)

    after = scrape(server)
    for name, labels in (("fw_http_requests_total", ROUTE),
                         ("fw_http_request_duration_seconds_count",
                          {"method": "GET", "route": "/hello/{name}"}),
                         ("app_greetings_total", {"language": "en"})):
        assert value(after, name, **labels) == value(before, name, **labels) == sent, name
    assert value(after, "fw_worker_restarts_total") == 1
    scrapes = {"method": "GET", "route": "/metrics", "status": "200"}
    assert value(after, "fw_http_requests_total", **scrapes) >= value(
        before, "fw_http_requests_total", **scrapes) >= 1


def test_a_reload_keeps_what_the_replaced_workers_counted_since_the_last_scrape(
        two_workers: ServerProcess) -> None:
    server = two_workers
    scrape(server)  # the master's copy of each worker's figures is now "nothing yet"
    sent = greet_until_both_workers_answered(server, 50)
    old = set(serving_pids(server))
    server.signal(signal.SIGHUP)  # each worker reports its last counts as it stops
    wait_for(lambda: len(serving_pids(server)) == 2 and not old & set(serving_pids(server)),
             timeout=30, message="both workers replaced")

    samples = scrape(server)
    assert value(samples, "fw_http_requests_total", **ROUTE) == sent
    assert value(samples, "app_greetings_total", language="en") == sent
    assert value(samples, "fw_worker_restarts_total") == 0  # replaced on purpose


def test_the_one_process_answers_from_its_own_figures(project: Path) -> None:
    with ServerProcess("app:app", "--workers", "0", cwd=project) as server:
        server.wait_serving()
        for name in ("a", "b", "c"):
            get(f"{server.url}/hello/{name}")
        call = {"jsonrpc": "2.0", "method": "math.double", "params": [2], "id": 1}
        rpc = [call, {**call, "method": "math.nothing"}, {**call, "params": ["x"]}]
        request = urllib.request.Request(f"{server.url}/rpc", json.dumps(rpc).encode(),
                                         {"Content-Type": "application/json"})
        assert len(json.loads(urllib.request.urlopen(request, timeout=10).read())) == 3
        for path in ("/nowhere/1", "/nowhere/2"):
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(f"{server.url}{path}", timeout=10)

        samples = scrape(server)
        assert value(samples, "fw_http_requests_total", **ROUTE) == 3
        assert value(samples, "fw_rpc_calls_total", method="math.double", outcome="ok") == 1
        assert value(samples, "fw_rpc_calls_total", method="math.double",
                     outcome="invalid_params") == 1
        assert value(samples, "fw_rpc_calls_total", method="<unknown>",
                     outcome="not_found") == 1
        assert value(samples, "fw_http_requests_total", method="GET", route="<unmatched>",
                     status="404") == 2  # one series, whatever the paths
        assert value(samples, "fw_workers") == 0
        assert value(samples, "fw_http_requests_in_flight", worker="master") == 1  # this scrape


def test_a_405_is_counted_under_the_template_of_the_path_it_refused(project: Path) -> None:
    """The path matched a route, only not for this method: its template, not <unmatched>."""
    with ServerProcess("app:app", "--workers", "0", cwd=project) as server:
        server.wait_serving()
        for method, path in (("POST", "/hello/a"), ("DELETE", "/hello/b"), ("POST", "/metrics"),
                             ("GET", "/nowhere")):
            request = urllib.request.Request(f"{server.url}{path}", method=method)
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == (404 if path == "/nowhere" else 405)

        samples = scrape(server)
    for method in ("POST", "DELETE"):
        assert value(samples, "fw_http_requests_total", method=method, route="/hello/{name}",
                     status="405") == 1
    assert value(samples, "fw_http_requests_total", method="POST", route="/metrics",
                 status="405") == 1
    assert value(samples, "fw_http_request_duration_seconds_count", method="POST",
                 route="/hello/{name}") == 1
    unmatched = {(s.labels["method"], s.labels["status"])
                 for s in samples["fw_http_requests_total"] if s.labels["route"] == "<unmatched>"}
    assert unmatched == {("GET", "404")}


def test_an_empty_metrics_path_turns_metrics_off(project: Path) -> None:
    for app, answers in (("app:app", 200), ("app:app_without_metrics", 404)):
        with ServerProcess(app, "--workers", "1", cwd=project) as server:
            server.wait_serving()
            get(f"{server.url}/hello/x")
            try:
                status = urllib.request.urlopen(f"{server.url}/metrics", timeout=10).status
            except urllib.error.HTTPError as refused:
                status = refused.code
            assert status == answers, app


def test_processes_snapshots_add_up_counters_and_histograms_and_keep_gauges_apart() -> None:
    worker = Metrics()
    worker.counter("jobs_total", "Jobs", ["queue"]).labels("mail").inc(2)
    worker.histogram("job_seconds", "Job time", buckets=[0.1, 1]).observe(0.5)
    worker.gauge("backlog", "Waiting jobs").set(7)
    summed = MetricsSum()
    for process in ("1", "2"):
        summed.add(worker.snapshot(), process)
    retired = Metrics()
    retired.gauge("backlog", "Waiting jobs", ["queue"])  # other labels: left out, no error
    summed.add(retired.snapshot(), "3")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(summed.exposition().decode())
               for s in family.samples}
    assert samples[("jobs_total", (("queue", "mail"),))] == 4
    assert samples[("job_seconds_bucket", (("le", "0.1"),))] == 0
    assert samples[("job_seconds_bucket", (("le", "1.0"),))] == 2
    assert samples[("job_seconds_count", ())] == 2
    assert math.isclose(samples[("job_seconds_sum", ())], 1.0)
    assert samples[("backlog", (("worker", "1"),))] == 7
    assert samples[("backlog", (("worker", "2"),))] == 7
    assert not any(labels == (("queue", ""), ("worker", "3")) for _, labels in samples)


def test_an_instrument_is_declared_once_per_name_with_names_prometheus_accepts() -> None:
    metrics = Metrics()
    counter = metrics.counter("orders_total", "Orders", ["shop"])
    assert metrics.counter("orders", "Orders", ["shop"]) is counter  # the same family
    with pytest.raises(ValueError, match="already a counter"):
        metrics.gauge("orders", "Orders")
    with pytest.raises(ValueError, match="not a Prometheus metric name"):
        metrics.counter("orders-total", "Orders")
    with pytest.raises(ValueError, match="cannot be a label"):
        metrics.gauge("queue_length", "Jobs waiting", ["worker"])
    with pytest.raises(ValueError, match="only goes up"):
        counter.labels("north").inc(-1)
    with pytest.raises(ValueError, match="has labels"):
        counter.inc()
