"""Job queue benchmark: jobs/s end to end (produce -> consume -> done) with 2 consumer
processes, on fw's pipe broker, fw's Redis adapter and arq on the same Redis, in one run;
then how late a schedule's runs start on a 2-worker server.

    python -m bench.jobs [--jobs 5000] [--runs 3] [--tick-seconds 20]

Each job's handler marks it done with one increment in its broker (the pipe broker's kv, or
Redis); this process produces every job (64 at a time) and stops the clock when the count
reaches --jobs. Consumers take up to 32 jobs at once (fw max_parallel, arq max_jobs; arq
polls every 10 ms, its default is 500). Starts its own redis-server on a free port. Each
figure is the best of ``--runs`` runs. Targets: pipe >= 5x arq, Redis adapter >= arq.
The schedule (bench/tick_app.py) ticks every 0.2 s for --tick-seconds; target p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker

from bench.broker import RedisServer, percentile_99
from bench.servers import free_port, serving
from bench.tick_app import TICK
from framework.broker import BrokerKeyValue, BrokerQueue
from framework.broker.host import BrokerHost
from framework.broker.redis_adapter import RedisAdapter
from framework.testing.broker_harness import Child, ChildContext, Facades, run_children

CONSUMERS = 2
PARALLEL = 32
PRODUCERS = 64
QUEUE, DONE = "bench-jobs", "bench-jobs-done"
POLL = 0.005  # how often the producer reads the done count


async def produce_all(produce: Callable[[int], Awaitable[object]], jobs: int) -> None:
    """``produce(i)`` for every job, PRODUCERS at a time."""
    async def producer(first: int) -> None:
        for job in range(first, jobs, PRODUCERS):
            await produce(job)
    await asyncio.gather(*(producer(first) for first in range(PRODUCERS)))


async def timed(produce: Callable[[int], Awaitable[object]],
                done: Callable[[], Awaitable[int]], jobs: int) -> float:
    """Jobs per second from the first produce until ``done()`` counts them all."""
    started = time.perf_counter()
    await produce_all(produce, jobs)
    while await done() < jobs:
        await asyncio.sleep(POLL)
    return jobs / (time.perf_counter() - started)


# -- fw on the pipe broker: consumers are forked children of a BrokerHost here ----------------

def pipe_rate(jobs: int) -> float:
    async def consumer(broker: Facades, ctx: ChildContext) -> None:
        async def handle(message: Any) -> None:
            await broker.kv.increment(DONE)
        consuming = await broker.queue.consume(QUEUE, handle, max_parallel=PARALLEL)
        await ctx.tell("ready")
        await ctx.hear("stop")
        await consuming.stop()

    rates: list[float] = []

    async def conduct(children: list[Child], host: BrokerHost, master: Facades) -> None:
        for child in children:
            await child.hear("ready")
        rates.append(await timed(lambda job: master.queue.produce(QUEUE, {"job": job}),
                                 lambda: kv_count(master.kv), jobs))
        for child in children:
            await child.tell("stop")

    run_children(consumer, CONSUMERS, conduct)
    return rates[0]


async def kv_count(kv: BrokerKeyValue) -> int:
    return int(await kv.get(DONE) or 0)


# -- fw's Redis adapter and arq: consumers are forked processes on the same Redis -------------

def in_processes(consume: Callable[[str], Coroutine[Any, Any, None]], url: str,
                 measure: Callable[[], Coroutine[Any, Any, float]]) -> float:
    """``measure()`` here while CONSUMERS forked processes run ``consume(url)``."""
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_run_forever, args=(consume, url), daemon=True)
                 for _ in range(CONSUMERS)]
    for process in processes:
        process.start()
    try:
        return asyncio.run(measure())
    finally:
        for process in processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGKILL)
            process.join(10)


def _run_forever(consume: Callable[[str], Coroutine[Any, Any, None]], url: str) -> None:
    asyncio.events._set_running_loop(None)  # forked from a process that may run a loop
    asyncio.run(consume(url))


async def fw_redis_consumer(url: str) -> None:
    adapter = RedisAdapter(url, namespace="bench")
    kv = BrokerKeyValue(adapter)

    async def handle(message: Any) -> None:
        await kv.increment(DONE)
    await BrokerQueue(adapter).consume(QUEUE, handle, max_parallel=PARALLEL)
    await asyncio.Event().wait()


def fw_redis_rate(url: str, jobs: int) -> float:
    async def measure() -> float:
        adapter = RedisAdapter(url, namespace="bench")
        queue, kv = BrokerQueue(adapter), BrokerKeyValue(adapter)
        try:
            return await timed(lambda job: queue.produce(QUEUE, {"job": job}),
                               lambda: kv_count(kv), jobs)
        finally:
            await adapter.close()
    return in_processes(fw_redis_consumer, url, measure)


async def arq_job(ctx: dict[str, Any], job: int) -> None:
    await ctx["redis"].incr(DONE)


async def arq_consumer(url: str) -> None:
    worker = Worker(functions=[arq_job], redis_settings=RedisSettings.from_dsn(url),
                    max_jobs=PARALLEL, poll_delay=0.01, keep_result=0, handle_signals=False,
                    log_results=False)
    await worker.main()


def arq_rate(url: str, jobs: int) -> float:
    async def measure() -> float:
        pool = await create_pool(RedisSettings.from_dsn(url))
        counter = aioredis.Redis.from_url(url)
        try:
            return await timed(lambda job: pool.enqueue_job("arq_job", job),
                               lambda: counter_value(counter), jobs)
        finally:
            await pool.aclose()
            await counter.aclose()
    return in_processes(arq_consumer, url, measure)


async def counter_value(client: aioredis.Redis) -> int:
    return int(await client.get(DONE) or 0)


async def flush(url: str) -> None:
    client = aioredis.Redis.from_url(url)
    await client.flushdb()
    await client.aclose()


def tick_lateness(seconds: float) -> list[float]:
    """How late each run of bench/tick_app.py's schedule started, in ms, sorted: a 2-worker
    server on the pipe broker for ``seconds`` (its first second left out: start-up)."""
    with tempfile.NamedTemporaryFile(suffix=".ticks") as ticks:
        os.environ["FW_BENCH_TICKS"] = ticks.name
        port = free_port()
        with serving([sys.executable, "-m", "framework.cli", "server:start", "--app",
                      "bench.tick_app:app", "--port", str(port)], port):
            time.sleep(seconds)  # the measurement's length, not a synchronisation
        lines = Path(ticks.name).read_text().split()
    return sorted(float(line) * 1000 for line in lines[5:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000, help="jobs per measurement")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the best counts")
    parser.add_argument("--tick-seconds", type=float, default=20.0,
                        help="how long the schedule runs")
    arguments = parser.parse_args()
    jobs, runs = arguments.jobs, arguments.runs

    rates: dict[str, list[float]] = {"fw, pipe broker": [], "fw, Redis adapter": [],
                                     "arq, same Redis": []}
    with RedisServer() as url:
        for _ in range(runs):
            rates["fw, pipe broker"].append(pipe_rate(jobs))
            for name, measure in (("fw, Redis adapter", fw_redis_rate),
                                  ("arq, same Redis", arq_rate)):
                asyncio.run(flush(url))
                rates[name].append(measure(url, jobs))
    best = {name: max(figures) for name, figures in rates.items()}
    print(f"jobs/s end to end, {jobs} jobs, {CONSUMERS} consumer processes x {PARALLEL}, "
          f"best of {runs} runs")
    for name, figure in best.items():
        print(f"  {name:<20} {figure:>9,.0f}/s")
    arq = best["arq, same Redis"]
    print(f"  pipe / arq: {best['fw, pipe broker'] / arq:.1f}x (target >= 5x); "
          f"Redis adapter / arq: {best['fw, Redis adapter'] / arq:.1f}x (target >= 1x)")
    late = tick_lateness(arguments.tick_seconds)
    print(f"schedule every {TICK}s on 2 workers, {len(late)} runs: lateness p50 "
          f"{late[len(late) // 2]:.1f} ms, p99 {percentile_99(late):.1f} ms, max {late[-1]:.1f} ms"
          " (target p99 < 50 ms)")


if __name__ == "__main__":
    main()
