"""GET /hello (JSON) from 2 worker processes: fw against gunicorn+aiohttp, uvicorn, Sanic.

Each server runs its own multi-process mode with 2 workers, without access logs, and the
same client (bench/loadgen.py: wrk when installed) loads each in turn, in one run. The best
of ``--rounds`` is kept: with the client on the same machine, which worker accepts wrk's
burst of keep-alive connections depends on scheduling, and now and then one worker of any
of these servers takes them all for a whole round.

- fw: ``fw server:start --workers 2`` (bench/http.py's app: one injected service)
- gunicorn with aiohttp's ``GunicornUVLoopWebWorker``, a plain aiohttp handler
- uvicorn ``--workers 2`` with a Starlette route
- Sanic with 2 workers

Run from the repository's root:

    python -m bench.http_workers [--seconds 5] [--connections 64] [--rounds 3]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
from typing import Any  # noqa: E402

from bench.http import Greeter, _free_port, serving  # noqa: E402
from bench.loadgen import LoadResult, load  # noqa: E402

WORKERS = "2"
BASELINE = "gunicorn + aiohttp"


def __getattr__(name: str) -> Any:
    """The other frameworks' apps, built only in the server that imports this module."""
    if name == "aiohttp_app":
        return _aiohttp_app()
    if name == "starlette_app":
        return _starlette_app()
    if name == "sanic_app":
        return _sanic_app()
    raise AttributeError(name)


def _aiohttp_app() -> Any:
    from aiohttp import web

    greeter = Greeter()

    async def hello(request: web.Request) -> web.Response:
        return web.json_response(greeter.greet())

    app = web.Application()
    app.router.add_get("/hello", hello)
    return app


def _starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    greeter = Greeter()

    async def hello(request: Any) -> JSONResponse:
        return JSONResponse(greeter.greet())

    return Starlette(routes=[Route("/hello", hello)])


def _sanic_app() -> Any:
    from sanic import Sanic
    from sanic.response import json

    try:
        return Sanic.get_app("bench")
    except Exception:  # noqa: BLE001 - sanic raises SanicException when it is not made yet
        app = Sanic("bench")
    greeter = Greeter()

    @app.get("/hello")
    async def hello(request: Any) -> Any:
        return json(greeter.greet())

    return app


SERVERS = {
    "fw": lambda port: [sys.executable, "-m", "framework.cli", "server:start", "--app",
                        "bench.http:app", "--port", str(port), "--workers", WORKERS],
    BASELINE: lambda port: [sys.executable, "-m", "gunicorn", "bench.http_workers:aiohttp_app",
                            "--workers", WORKERS, "--bind", f"127.0.0.1:{port}",
                            "--worker-class", "aiohttp.worker.GunicornUVLoopWebWorker",
                            "--log-level", "warning"],
    "uvicorn + starlette": lambda port: [sys.executable, "-m", "uvicorn",
                                         "bench.http_workers:starlette_app", "--workers",
                                         WORKERS, "--port", str(port), "--no-access-log",
                                         "--log-level", "warning"],
    "sanic": lambda port: [sys.executable, "-m", "sanic", "bench.http_workers:sanic_app",
                           "--workers", WORKERS, "--port", str(port), "--no-access-logs",
                           "--no-motd"],
}


def measure(name: str, seconds: float, connections: int) -> LoadResult:
    port = _free_port()
    with serving(SERVERS[name](port), port) as url:
        load(url, 1, connections)  # warm up every worker
        return load(url, seconds, connections)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3,
                        help="servers are measured in turn this many times; best kept")
    args = parser.parse_args()
    results: dict[str, LoadResult] = {}
    for round_number in range(args.rounds):
        order = list(SERVERS) if round_number % 2 == 0 else list(reversed(SERVERS))
        for name in order:  # each round in the other direction: drift hits every server
            result = measure(name, args.seconds, args.connections)
            if name not in results or (result.requests_per_second
                                        > results[name].requests_per_second):
                results[name] = result
    baseline = results[BASELINE].requests_per_second
    client = results["fw"].client
    print(f"GET /hello, {WORKERS} workers each, {client} with {args.connections} connections, "
          f"{args.seconds:g} s, best of {args.rounds} rounds")
    print(f"{'server':<22}{'req/s':>10}{'p99 ms':>9}{'errors':>8}{'vs gunicorn':>13}")
    for name, result in results.items():
        print(f"{name:<22}{result.requests_per_second:>10.0f}{result.p99_ms:>9.2f}"
              f"{result.errors:>8}{result.requests_per_second / baseline:>13.2f}")
    ratio = results["fw"].requests_per_second / baseline
    verdict = "meets" if ratio >= 1 else "MISSES"
    print(f"fw / {BASELINE} = {ratio:.2f} ({verdict} the target: at least 1.00)")
    return 0 if ratio >= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
