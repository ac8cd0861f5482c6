"""Replacing dead workers on a real 2-worker server: one that answered requests is replaced
at once however often its slot dies; one that dies before answering any backs off.

(A worker whose bootstrap fails backs off, then stops the master: see test_workers.py.)
"""

from __future__ import annotations

import os
import signal
import time
from functools import partial
from pathlib import Path

from tests.server.test_workers import online_pid
from tests.server.workers_support import WorkerServer, get
from tests.support import wait_for

KILLS = 8
AT_ONCE = "was killed by SIGKILL after answering requests: replaced at once"


def answered_by(server: WorkerServer, worker_id: int, other_than: int | None = None) -> int:
    """The pid that answered one request on a fresh connection, if it is worker
    ``worker_id`` other than ``other_than``; else 0."""
    status, body = get(server.port, "/hello")
    assert status == 200, body
    pid: int = body["pid"]
    return pid if body["worker_id"] == worker_id and pid != other_than else 0


def kill_and_time_successor(server: WorkerServer, worker_id: int, victim: int) -> float:
    """SIGKILL ``victim``; seconds until worker ``worker_id``'s successor answers."""
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    wait_for(partial(answered_by, server, worker_id, victim), 10, interval=0,
             message=f"the successor of {victim} answering")
    return time.monotonic() - killed


def test_a_worker_that_answered_is_replaced_at_once_however_often_its_slot_dies(
        tmp_path: Path) -> None:
    with WorkerServer(tmp_path, 2) as server:
        server.wait_serving()  # a connection, no request: no worker has answered one
        server.wait_workers(2)
        early = online_pid(server, 2)
        assert early is not None
        waited = kill_and_time_successor(server, 2, early)
        assert waited >= 0.1, waited  # the backoff of a worker that answered nothing
        assert f"worker 2 (pid {early}) was killed by SIGKILL" in server.output()
        assert "before answering any request: replaced in 0.10 s (backoff)" in server.output()

        waits = []
        for _ in range(KILLS):
            victim = wait_for(partial(answered_by, server, 1), 10, interval=0,
                              message="worker 1 answering")
            waits.append(kill_and_time_successor(server, 1, victim))
        assert max(waits) < 1.0, waits
        wait_for(lambda: server.output().count(AT_ONCE) == KILLS, message="every kill logged")
        server.wait_workers(2)
