"""Broker benchmark: kv.increment through the pipe adapter, the Redis adapter and plain
redis-py; near-cache hits; bus publish-to-delivery latency to subscribers in 4 processes.

    python -m bench.broker [--ops 20000] [--runs 3]

Starts its own redis-server on a free port (stopped at the end). The pipe figures come from
a forked child process talking to a BrokerHost in this process, as a worker talks to its
master. Each figure is the best of ``--runs`` runs (the machine may be busy). Targets: pipe
>= 2x the Redis adapter at 64 in flight; >= 500,000 near-cache hits/s; bus p99 < 2 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable

import redis
import redis.asyncio as aioredis

from framework.broker.redis_adapter import RedisAdapter
from framework.testing.broker_harness import ChildContext, Facades, run_children

IN_FLIGHT = 64
LATENCY_MESSAGES = 2000
SUBSCRIBER_PROCESSES = 4


async def rate(operation: Callable[[], Awaitable[object]], ops: int, in_flight: int) -> float:
    """Operations per second with ``in_flight`` callers running ``operation`` ops times."""
    async def caller(count: int) -> None:
        for _ in range(count):
            await operation()
    for _ in range(min(ops, 1000)):  # warm up
        await operation()
    started = time.perf_counter()
    await asyncio.gather(*(caller(ops // in_flight) for _ in range(in_flight)))
    return (ops // in_flight) * in_flight / (time.perf_counter() - started)


def increments(ops: int) -> Callable[[Facades, ChildContext], Awaitable[list[float]]]:
    async def scenario(broker: Facades, ctx: ChildContext) -> list[float]:
        def increment() -> Awaitable[object]:
            return broker.kv.increment("bench")
        return [await rate(increment, ops, 1), await rate(increment, ops, IN_FLIGHT)]
    return scenario


async def near_cache_hits(broker: Facades, ctx: ChildContext) -> float:
    await broker.cache.set("session:1", {"user": 1, "roles": ["admin"]}, 3600)
    await broker.cache.get("session:1")
    get, count = broker.cache.get, 500_000
    started = time.perf_counter()
    for _ in range(count):
        await get("session:1")
    return count / (time.perf_counter() - started)


async def bus_latency(broker: Facades, ctx: ChildContext) -> list[float]:
    """Every child subscribes; child 0 also publishes, paced, with its send time."""
    latencies: list[float] = []
    done = asyncio.Event()

    def receive(message: dict) -> None:
        latencies.append((time.monotonic_ns() - message["sent"]) / 1e6)
        if len(latencies) == LATENCY_MESSAGES:
            done.set()
    (await broker.bus.subscribe("latency")).subscribe(receive)
    await ctx.tell("ready")
    await ctx.hear("go")
    if ctx.index == 0:
        for number in range(LATENCY_MESSAGES):
            await broker.bus.publish("latency", {"n": number, "sent": time.monotonic_ns()})
            await asyncio.sleep(0.0005)
    await done.wait()
    return latencies


async def start_together(children: list, host: object, master: Facades) -> None:
    for child in children:
        await child.hear("ready")
    for child in children:
        await child.tell("go")


async def redis_rates(url: str, ops: int) -> dict[str, list[float]]:
    adapter = RedisAdapter(url, namespace="bench")
    kv = Facades.over(adapter).kv

    def increment() -> Awaitable[object]:
        return kv.increment("bench")
    adapter_rates = [await rate(increment, ops, 1), await rate(increment, ops, IN_FLIGHT)]
    await adapter.close()
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=IN_FLIGHT)
    client = aioredis.Redis.from_pool(pool)

    def incrby() -> Awaitable[object]:
        return client.incrby("bench:plain", 1)
    plain_rates = [await rate(incrby, ops, 1), await rate(incrby, ops, IN_FLIGHT)]
    await client.aclose()
    return {"redis adapter": adapter_rates, "plain redis-py (asyncio)": plain_rates}


class RedisServer:
    """A redis-server of the benchmark's own on a free port."""

    def __enter__(self) -> str:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self._dir = tempfile.mkdtemp()
        binary = os.environ.get("FW_REDIS_SERVER") or shutil.which("redis-server")
        if not binary:
            raise SystemExit("redis-server is not installed (scripts/test.sh installs it)")
        self._process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self._dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()
        return f"redis://127.0.0.1:{port}/0"

    def __exit__(self, *exc_info: object) -> None:
        self._process.terminate()
        self._process.wait(10)
        shutil.rmtree(self._dir, ignore_errors=True)


def best_rates(runs: list[list[float]]) -> list[float]:
    return [max(column) for column in zip(*runs, strict=True)]


def percentile_99(ordered: list[float]) -> float:
    return ordered[int(len(ordered) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=20_000, help="increments per measurement")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the best counts")
    arguments = parser.parse_args()
    ops, runs = arguments.ops, arguments.runs

    pipe_rates = best_rates([run_children(increments(ops))[0] for _ in range(runs)])
    hits = max(run_children(near_cache_hits)[0] for _ in range(runs))
    latencies = min((sorted(sum(run_children(bus_latency, SUBSCRIBER_PROCESSES, start_together),
                                []))
                     for _ in range(runs)), key=percentile_99)
    with RedisServer() as url:
        measured = [asyncio.run(redis_rates(url, ops)) for _ in range(runs)]
    rates = {"pipe adapter (worker -> master)": pipe_rates,
             **{name: best_rates([run[name] for run in measured]) for name in measured[0]}}

    print(f"kv.increment, {ops} ops, best of {runs} runs        1 caller   {IN_FLIGHT} in flight")
    for name, (single, many) in rates.items():
        print(f"  {name:<40} {single:>8,.0f}/s  {many:>8,.0f}/s")
    ratio = rates["pipe adapter (worker -> master)"][1] / rates["redis adapter"][1]
    print(f"  pipe / redis adapter at {IN_FLIGHT} in flight: {ratio:.1f}x (target >= 2x)")
    print(f"near-cache hits (pipe adapter, one process): {hits:,.0f}/s (target >= 500,000)")
    p50, p99 = statistics.median(latencies), percentile_99(latencies)
    print(f"bus publish -> delivery, {SUBSCRIBER_PROCESSES} subscriber processes, "
          f"{len(latencies)} deliveries: p50 {p50:.3f} ms, p99 {p99:.3f} ms (target p99 < 2 ms)")


if __name__ == "__main__":
    main()
