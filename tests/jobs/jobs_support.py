"""A real app with declared jobs for the jobs tests: each job and each scheduled run writes a
JSON line to the file named by FW_TEST_RECORD (its process, its job-scoped instances)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.server.workers_support import Record
from tests.support import ServerProcess

APP_SOURCE = '''
"""The app the jobs tests serve."""

import asyncio
import json
import os
import time
import uuid
from pathlib import Path

from framework import App, FrameworkModule, http, jobs, provide
from framework.broker import BrokerQueue

RECORD = Path(os.environ["FW_TEST_RECORD"])


def record(event, **fields):
    with RECORD.open("a") as out:
        out.write(json.dumps({"event": event, "pid": os.getpid(), **fields}) + "\\n")


class JobContext:
    """Request-scoped: one per job."""

    def __init__(self) -> None:
        self.id = uuid.uuid4().hex


class Audit:
    """Request-scoped too, built on the job's JobContext."""

    def __init__(self, context: JobContext) -> None:
        self.context = context


class Work:
    @jobs.consumer("work", max_parallel=4)
    async def handle(self, message: dict, context: JobContext, audit: Audit) -> None:
        record("job", n=message["n"], context=context.id, audit_context=audit.context.id)

    @jobs.consumer("slow")
    async def slow(self, message: dict) -> None:
        record("slow_started")
        await asyncio.sleep(message["seconds"])
        record("slow_finished")

    @jobs.every(seconds=1)
    async def tick(self, context: JobContext) -> None:
        record("tick", context=context.id, at=time.time())


class Producer:
    def __init__(self, queue: BrokerQueue) -> None:
        self.queue = queue

    @http.get("/produce")
    async def produce(self, count: int) -> dict:
        for n in range(count):
            await self.queue.produce("work", {"n": n})
        return {"produced": count}

    @http.get("/produce_slow")
    async def produce_slow(self, seconds: float) -> dict:
        await self.queue.produce("slow", {"seconds": seconds})
        return {"produced": 1}


app = App(imports=[FrameworkModule(worker_timeout=5, graceful_shutdown_timeout=5)],
          providers=[provide(JobContext, scope="request"), provide(Audit, scope="request")],
          controllers=[Producer], listeners=[Work], name="jobs-test")
app.load_config_from_env()
'''


class JobsServer(ServerProcess):
    """``fw server:start`` of the jobs app with ``workers`` workers; its record of runs."""

    def __init__(self, tmp_path: Path, workers: int, **config: Any) -> None:
        (tmp_path / "jobs_app.py").write_text(APP_SOURCE)
        self.record = Record(tmp_path / "record.jsonl")
        variables = {f"APP_FRAMEWORK_{name.upper()}": str(value)
                     for name, value in config.items()}
        variables["APP_FRAMEWORK_WORKERS"] = str(workers)
        variables["FW_TEST_RECORD"] = str(self.record.path)
        super().__init__("jobs_app:app", cwd=tmp_path, env=variables)
