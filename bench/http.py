"""GET /hello (JSON from one injected service): fw against the servers Python teams use.

Three tables from one run, every row loaded by the same client (bench/loadgen.py: wrk when
installed) with the same connections and duration:

1. one process: fw (workers=0, its default loop: uvloop) against a plain aiohttp handler,
   on asyncio's loop (aiohttp as installed) and on fw's loop, all without access logs.
   Targets (issue 19): fw at least 1.3 times aiohttp on asyncio's loop and 1.15 times
   aiohttp on the same loop. fw also runs with metrics off (metrics_path ""): what counting
   every request for /metrics costs. Target: metrics on (the default) at least 0.95 of off.
2. and 2b. two and four worker processes: ``fw server:start --workers N`` against gunicorn
   with aiohttp's GunicornWebWorker (asyncio) and GunicornUVLoopWebWorker, uvicorn with
   Starlette (uvloop, httptools), Sanic, and Granian (Rust, ASGI Starlette; reported, not
   targeted) when installed; fw both with its default shared socket (balanced accepting) and
   with reuse_port=True. Target (issue 19), with 2 workers: fw at least 1.3 times gunicorn +
   aiohttp's GunicornWebWorker (4 workers are reported).
3. typed POST, one process each: POST /orders with a 10-field JSON body (a nested object, a
   datetime, a UUID, a list, an Optional, a 1..100 range; bench/typed_apps.py) validated
   into its type and echoed with 201, by fw (dataclasses), FastAPI (pydantic v2) on uvicorn
   and Litestar (msgspec) on uvicorn. Target: fw at least 1.3 times FastAPI's requests/s;
   its ratio to Litestar is printed.

4. balance (bench/balance.py): the busiest worker's share of the requests in each of 8
   trials (64 keep-alive connections opened at once) with 2 and 4 workers, for fw's default
   shared socket (balanced accepting), reuse_port and, with ``--unbalanced CHECKOUT`` (the
   commit before it, e.g. ``git archive e376fa8 | tar -x -C /tmp/fw-before``), the old
   accept loop. Target: at most 55% with 2 workers, 35% with 4, in every trial.

Servers are measured in turn, each round in the other order so that drift hits every row,
and each row keeps its best round: with the client on the same machine, which worker takes
wrk's burst of keep-alive connections depends on scheduling. Run from the repository root
(as a module: a file named http.py run as a script would shadow the standard library's):

    python -m bench.http [--seconds 5] [--connections 64] [--rounds 3]
                         [--tables one|two|four|typed|balance|both|all] (both: one, two)
                         [--trials 8] [--unbalanced CHECKOUT]        (the balance table)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bench.apps import _aiohttp_app
from bench.balance import print_balance
from bench.loadgen import LoadResult, load
from bench.servers import free_port, serving
from bench.typed_apps import ORDER_BODY
from framework.server.loops import LoopChoice

Command = Callable[[int], list[str]]
PYTHON = sys.executable


def fw_command(workers: int, app: str = "bench.apps:app") -> Command:
    return lambda port: [PYTHON, "-m", "framework.cli", "server:start", "--app", app,
                         "--port", str(port), "--workers", str(workers)]


def uvicorn_command(app: str) -> Command:
    """One uvicorn process (uvloop and httptools when installed), no access log."""
    return lambda port: [PYTHON, "-m", "uvicorn", app, "--port", str(port),
                         "--no-access-log", "--log-level", "warning"]


@dataclass(frozen=True)
class Workload:
    """What every request of a table sends: GET ``path``, or POST ``body`` to it (then each
    server must answer 201 with the body's fields before it is loaded)."""

    path: str = "/hello"
    body: bytes | None = None


HELLO = Workload()
TYPED_POST = Workload("/orders", ORDER_BODY)


PLAIN_AIOHTTP = "aiohttp (plain handler, asyncio loop)"
PLAIN_AIOHTTP_FW_LOOP = "aiohttp (plain handler, fw's loop)"
ONE_PROCESS: dict[str, Command] = {
    PLAIN_AIOHTTP: lambda port: [PYTHON, "-m", "bench.http", "--serve-aiohttp", str(port),
                                 "--aiohttp-loop", "asyncio"],
    PLAIN_AIOHTTP_FW_LOOP: lambda port: [PYTHON, "-m", "bench.http", "--serve-aiohttp",
                                         str(port)],
    "fw (workers=0)": fw_command(0),
    "fw (workers=0, metrics off)": fw_command(0, "bench.apps:app_metrics_off"),
}
DEFAULT_FW = "fw (workers=0)"
METRICS_OFF = "fw (workers=0, metrics off)"
GUNICORN = "gunicorn + aiohttp (GunicornWebWorker)"


def gunicorn_command(workers: int, worker_class: str) -> Command:
    return lambda port: [PYTHON, "-m", "gunicorn", "bench.apps:aiohttp_app", "--workers",
                         str(workers), "--bind", f"127.0.0.1:{port}", "--worker-class",
                         f"aiohttp.worker.{worker_class}", "--log-level", "warning"]


def workers_table(workers: int) -> dict[str, Command]:
    """The servers of the N-worker table: fw's two socket modes and the peers (Granian only
    when installed)."""
    n = str(workers)
    servers: dict[str, Command] = {
        f"fw (--workers {n})": fw_command(workers),
        f"fw (--workers {n}, reuse_port)": fw_command(workers, "bench.apps:app_reuse_port"),
        GUNICORN: gunicorn_command(workers, "GunicornWebWorker"),
        "gunicorn + aiohttp (uvloop worker)": gunicorn_command(workers,
                                                               "GunicornUVLoopWebWorker"),
        "uvicorn + starlette": lambda port: [
            PYTHON, "-m", "uvicorn", "bench.apps:starlette_app", "--workers", n,
            "--port", str(port), "--no-access-log", "--log-level", "warning"],
        "sanic": lambda port: [
            PYTHON, "-m", "sanic", "bench.apps:sanic_app", "--workers", n, "--port", str(port),
            "--no-access-logs", "--no-motd"],
    }
    if importlib.util.find_spec("granian") is not None:
        servers["granian + starlette (reported)"] = lambda port: [
            PYTHON, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port",
            str(port), "--workers", n, "--no-log", "bench.apps:starlette_app"]
    return servers


FASTAPI = "FastAPI (pydantic v2), uvicorn"
LITESTAR = "Litestar (msgspec), uvicorn"
TYPED: dict[str, Command] = {
    "fw (workers=0)": fw_command(0, "bench.typed_apps:app"),
    FASTAPI: uvicorn_command("bench.typed_fastapi:app"),
    LITESTAR: uvicorn_command("bench.typed_litestar:app"),
}


def serve_plain_aiohttp(port: int, loop_choice: LoopChoice) -> None:
    """The one-process baseline: aiohttp's own web.run_app on the loop ``loop_choice`` gives
    (fw's default, "auto", or asyncio's)."""
    from framework.server.loops import loop_factory

    loop = loop_factory(loop_choice)()
    web.run_app(_aiohttp_app(), host="127.0.0.1", port=port, access_log=None, print=None,
                loop=loop)


def measure(command: Command, seconds: float, connections: int,
            workload: Workload = HELLO) -> LoadResult:
    port = free_port()
    with serving(command(port), port, workload.path) as url:
        if workload.body is not None:
            check_echo(url, workload.body)
        load(url, 1, connections, workload.body)  # warm up every worker
        return load(url, seconds, connections, workload.body)


def check_echo(url: str, body: bytes) -> None:
    """A typed-POST server must answer 201 with every field it was sent: a row that measured
    validation errors would be worthless."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        status, answer = response.status, json.loads(response.read())
    if status != 201 or set(answer) != set(json.loads(body)):
        raise RuntimeError(f"{url} answered {status} {answer!r}, not the body it was sent")


def best_of_rounds(servers: dict[str, Command], args: argparse.Namespace,
                   workload: Workload = HELLO) -> dict[str, LoadResult]:
    best: dict[str, LoadResult] = {}
    for round_number in range(args.rounds):
        order = list(servers) if round_number % 2 == 0 else list(reversed(servers))
        for name in order:
            result = measure(servers[name], args.seconds, args.connections, workload)
            if name not in best or result.requests_per_second > best[name].requests_per_second:
                best[name] = result
    return {name: best[name] for name in servers}


def print_table(title: str, results: dict[str, LoadResult], baseline: str) -> float:
    """Print the rows with their ratio to ``baseline``; returns fw's best ratio (of its
    default configuration's rows: metrics on)."""
    reference = results[baseline].requests_per_second
    print(title)
    print(f"| {'server':<40} | {'req/s':>8} | {'p99 ms':>7} | {'errors':>6} | "
          f"{'ratio':>6} |")
    print(f"|{'-' * 42}|{'-' * 9}:|{'-' * 8}:|{'-' * 7}:|{'-' * 7}:|")
    for name, result in results.items():
        print(f"| {name:<40} | {result.requests_per_second:>8.0f} | {result.p99_ms:>7.2f} | "
              f"{result.errors:>6} | {result.requests_per_second / reference:>6.2f} |")
    fw = max(result.requests_per_second for name, result in results.items()
             if name.startswith("fw") and name != METRICS_OFF)
    return fw / reference


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3,
                        help="servers are measured in turn this many times; best kept")
    parser.add_argument("--tables",
                        choices=["one", "two", "four", "typed", "balance", "both", "all"],
                        default="all", help="one process, two workers, four workers, typed "
                        "POST, balance; both: one and two; all: every table")
    parser.add_argument("--trials", type=int, default=8, help="trials of the balance table")
    parser.add_argument("--unbalanced", type=Path, metavar="CHECKOUT",
                        help="the balance table's old-accept-loop row, from this checkout")
    parser.add_argument("--serve-aiohttp", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--aiohttp-loop", choices=["auto", "asyncio"], default="auto",
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_aiohttp:
        serve_plain_aiohttp(args.serve_aiohttp, args.aiohttp_loop)
        return 0
    one = best_of_rounds(ONE_PROCESS, args) if args.tables in ("one", "both", "all") else {}
    two = (best_of_rounds(workers_table(2), args) if args.tables in ("two", "both", "all")
           else {})
    four = best_of_rounds(workers_table(4), args) if args.tables in ("four", "all") else {}
    typed = (best_of_rounds(TYPED, args, TYPED_POST) if args.tables in ("typed", "all")
             else {})
    checks: list[tuple[str, float, float]] = []  # (label, figure, at least)
    if one or two or four or typed:
        client = next(iter({**one, **two, **four, **typed}.values())).client
        print(f"{client} with {args.connections} connections for {args.seconds:g} s; "
              f"best of {args.rounds} rounds\n")
    if one:
        single_ratio = print_table("GET /hello, one process (ratio to plain aiohttp on "
                                   "asyncio's loop):", one, PLAIN_AIOHTTP)
        same_loop = (one[DEFAULT_FW].requests_per_second
                     / one[PLAIN_AIOHTTP_FW_LOOP].requests_per_second)
        metrics_ratio = (one[DEFAULT_FW].requests_per_second
                         / one[METRICS_OFF].requests_per_second)
        checks += [("fw / plain aiohttp (asyncio's loop), one process", single_ratio, 1.3),
                   ("fw / plain aiohttp on fw's loop, one process", same_loop, 1.15),
                   ("fw metrics on / metrics off, one process", metrics_ratio, 0.95)]
        print()
    for count, table in ((2, two), (4, four)):
        if table:
            ratio = print_table(f"GET /hello, {count} workers (ratio to {GUNICORN}):", table,
                                GUNICORN)
            if count == 2:  # the target; four workers are reported
                checks.append((f"best fw row / {GUNICORN}, 2 workers", ratio, 1.3))
            print()
    if typed:
        fastapi_ratio = print_table("POST /orders (typed body), one process (ratio to FastAPI):",
                                    typed, FASTAPI)
        checks.append(("fw / FastAPI, typed POST", fastapi_ratio, 1.3))
        litestar = typed[LITESTAR].requests_per_second
        print(f"\nfw / Litestar, typed POST = "
              f"{typed['fw (workers=0)'].requests_per_second / litestar:.2f} (no target)\n")
    shares: list[tuple[str, float, float]] = []  # (label, figure, at most)
    if args.tables in ("balance", "all"):
        shares = print_balance(args.trials, 1.0, args.connections, args.unbalanced)
        print()
    for label, ratio, target in checks:
        verdict = "meets" if ratio >= target else "MISSES"
        print(f"{label} = {ratio:.2f} ({verdict} the target: at least {target:.2f})")
    for label, share, bar in shares:
        verdict = "meets" if share <= bar else "MISSES"
        print(f"{label} = {share:.0%} in the worst trial ({verdict} the target: at most "
              f"{bar:.0%})")
    return 0 if all(ratio >= target for _, ratio, target in checks) and all(
        share <= bar for _, share, bar in shares) else 1


if __name__ == "__main__":
    sys.exit(main())
