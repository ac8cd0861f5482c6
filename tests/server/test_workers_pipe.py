"""The master's side of a worker pipe, and the restart policy, without forking a server."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import orjson
import pytest

from framework.broker import BrokerHost
from framework.broker.channel import MAX_FRAME_SIZE
from framework.broker.engine import BrokerEngine
from framework.server.master.slots import (
    MAX_BOOT_FAILURES,
    SERVING,
    STABLE_AFTER,
    Slot,
    WorkerProcess,
)
from framework.server.master.worker_pipe import WorkerPipe
from framework.server.messages import CONTROL, Stop
from framework.server.pid_file import PidFile, PidFileError


class Heard:
    """What the arbiter would have been told, by the worker's pid."""

    def __init__(self) -> None:
        self.ready: list[int] = []
        self.heard_from: list[int] = []
        self.answered: list[int] = []
        self.retiring: list[str] = []
        self.boot_errors: list[str] = []
        self.closed = False

    def worker_ready(self, pid: int) -> None:
        self.ready.append(pid)

    def worker_heard_from(self, pid: int) -> None:
        self.heard_from.append(pid)

    def worker_answered(self, pid: int) -> None:
        self.answered.append(pid)

    def worker_retiring(self, pid: int, reason: str) -> None:
        self.retiring.append(reason)

    def worker_boot_failed(self, pid: int, error: str) -> None:
        self.boot_errors.append(error)

    def worker_closed_pipe(self, pid: int) -> None:
        self.closed = True


async def until(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)
    return result


def pipe_ends() -> tuple[Connection, Connection]:
    """A worker's pipe, as the arbiter makes it: the worker's end is used blocking here."""
    return multiprocessing.Pipe(duplex=True)


def frame(message: dict[str, Any]) -> bytes:
    return orjson.dumps(message)


async def test_the_master_survives_whatever_a_worker_sends(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    master_end, worker_end = pipe_ends()
    heard = Heard()
    pipe = WorkerPipe(master_end, 4242, "worker 3 (pid 4242)", heard, BrokerHost(BrokerEngine()))
    pipe.start()

    def misbehave() -> None:
        worker_end.send_bytes(b"\x00not json")
        worker_end.send_bytes(b"[1, 2, 3]")
        worker_end.send_bytes(b"x" * (MAX_FRAME_SIZE + 1))
        worker_end.send_bytes(frame({"k": "ctl", "op": "launch"}))
        worker_end.send_bytes(frame({"k": "ctl", "op": "retire"}))
        worker_end.send_bytes(frame({"k": "ctl", "op": "stats", "id": [1]}))
        worker_end.send_bytes(frame({"k": "mystery"}))
        worker_end.send_bytes(frame({"k": "b", "id": 1, "op": "kinc", "key": "n", "by": "x"}))
        worker_end.send_bytes(frame({"k": "b", "id": 2, "op": "kinc", "key": "n", "by": 2}))
        worker_end.send_bytes(frame({"k": "ctl", "op": "retire", "reason": "max_requests"}))
        worker_end.send_bytes(frame({"k": "ctl", "op": "heartbeat"}))
        worker_end.send_bytes(frame({"k": "ctl", "op": "answered"}))
        worker_end.send_bytes(frame({"k": "ctl", "op": "boot_failed", "error": "OSError: x"}))
        worker_end.send_bytes(frame({"k": "ctl", "op": "ready"}))

    writer = threading.Thread(target=misbehave)
    writer.start()
    await until(lambda: heard.ready)
    writer.join(5)

    replies = [orjson.loads(worker_end.recv_bytes()) for _ in range(2)]
    assert replies[0]["re"] == 1 and "e" in replies[0]
    assert replies[1] == {"k": "b", "re": 2, "r": 2}
    assert heard.retiring == ["max_requests"]
    assert (heard.heard_from, heard.boot_errors, heard.ready) == ([4242], ["OSError: x"], [4242])
    assert heard.answered == [4242]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert sum("worker 3 (pid 4242)" in message for message in warnings) >= 6

    worker_end.close()
    await until(lambda: heard.closed)


async def test_stats_are_asked_over_the_pipe_and_matched_by_id() -> None:
    master_end, worker_end = pipe_ends()
    pipe = WorkerPipe(master_end, 4242, "worker 1 (pid 4242)", Heard(), None)
    pipe.start()
    await until(lambda: pipe.send(Stop(k=CONTROL, op="stop", timeout=1.0)))
    assert orjson.loads(await asyncio.to_thread(worker_end.recv_bytes))["op"] == "stop"

    def answer() -> None:
        request = orjson.loads(worker_end.recv_bytes())
        worker_end.send_bytes(frame({"k": "ctl", "op": "stats", "id": request["id"] + 1}))
        worker_end.send_bytes(frame({**request, "rss": 1, "requests": 2, "in_flight": 0,
                                     "uptime": 3.0}))

    answering = threading.Thread(target=answer)
    answering.start()
    reply = await pipe.stats(timeout=5)
    answering.join(5)
    assert reply is not None and reply["requests"] == 2

    assert await pipe.stats(timeout=0.05) is None
    worker_end.close()


def worker(state: str = SERVING, started_ago: float = 0.0) -> WorkerProcess:
    process = WorkerProcess(1, 1, 0, None, 0)  # type: ignore[arg-type]
    process.state = state
    process.started = time.monotonic() - started_ago
    return process


def test_a_worker_killed_after_serving_a_while_is_replaced_at_once() -> None:
    slot = Slot(1)
    now = time.monotonic()
    case = slot.record_exit(worker(SERVING, started_ago=STABLE_AFTER + 1), now)
    assert slot.spawn_after == now and not slot.failing and slot.restarts == 1
    assert case == "after running 4.0 s: replaced at once"


def test_a_worker_that_answered_is_replaced_at_once_however_soon_and_often_it_dies() -> None:
    slot = Slot(1)
    now = time.monotonic()
    slot.record_exit(worker(SERVING), now)       # it answered nothing: a backoff
    assert slot.spawn_after > now
    for _ in range(10):
        answered = worker(SERVING)
        answered.answered = True
        assert slot.record_exit(answered, now) == "after answering requests: replaced at once"
        assert slot.spawn_after == now
    booting = worker("booting")
    booting.answered = True                      # answered before it said it serves
    assert slot.record_exit(booting, now).endswith("replaced in 0.10 s (backoff)")


def test_early_deaths_back_off_exponentially_and_repeated_boot_failures_give_up() -> None:
    slot = Slot(1)
    now = time.monotonic()
    delays = []
    for _ in range(MAX_BOOT_FAILURES):
        assert not slot.failing
        slot.record_exit(worker("booting"), now)
        delays.append(slot.spawn_after - now)
    assert delays[1:] == pytest.approx([2 * delay for delay in delays[:-1]])
    assert slot.failing

    slot.record_serving()
    assert not slot.failing


def test_the_pid_file_holds_the_master_pid_and_refuses_a_running_one(tmp_path: Any) -> None:
    path = tmp_path / "fw.pid"
    pid_file = PidFile(path)
    pid_file.create()
    assert path.read_text().strip() == str(os.getpid())
    path.write_text("1\n")  # pid 1 always runs
    with pytest.raises(PidFileError, match="still running"):
        pid_file.create()
    path.write_text(f"{os.getpid()}\n")
    pid_file.remove()
    assert not path.exists()
