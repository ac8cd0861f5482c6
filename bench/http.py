"""GET /hello (JSON from one injected service): fw against a plain aiohttp handler.

Both serve from one process on the same event loop, both without access logs, and the
same client (bench/loadgen.py: wrk when installed) loads each in turn, in one run.
Run from the repository's root:

    python -m bench.http [--seconds 5] [--connections 64] [--rounds 2]
"""

from __future__ import annotations

import sys
from pathlib import Path

# `python bench/http.py` puts bench/ first on sys.path, where this file would shadow the
# standard library's `http` module: take bench/ out and put the repository in.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]
sys.path.insert(0, str(_BENCH.parent))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402

from aiohttp import web  # noqa: E402

from bench.loadgen import LoadResult, load  # noqa: E402
from framework import App, FrameworkModule, Module, http  # noqa: E402

REPO = _BENCH.parent
TARGET_RATIO = 0.85


class Greeter:
    def greet(self) -> dict:
        return {"hello": "world"}


class HelloController:
    def __init__(self, greeter: Greeter) -> None:
        self.greeter = greeter

    @http.get("/hello")
    async def hello(self) -> dict:
        return self.greeter.greet()


class HelloModule(Module):
    name = "hello"
    providers = [Greeter]
    controllers = [HelloController]


app = App(imports=[FrameworkModule(access_log=False), HelloModule()], name="bench")


def serve_plain_aiohttp(port: int) -> None:
    """The baseline: the idiomatic aiohttp handler, on the loop fw's single process uses."""
    from framework.server.single import loop_factory

    greeter = Greeter()

    async def hello(request: web.Request) -> web.Response:
        return web.json_response(greeter.greet())

    baseline = web.Application()
    baseline.router.add_get("/hello", hello)
    factory = loop_factory()
    loop = factory() if factory else asyncio.new_event_loop()
    web.run_app(baseline, host="127.0.0.1", port=port, access_log=None, print=None, loop=loop)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(command: list[str], port: int) -> Iterator[str]:
    """Run a server command until the block ends; yields its /hello URL once it answers."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get(
        "PYTHONPATH", "")])}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited: {process.stderr.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{command} did not listen on {port}") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/hello"
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


SERVERS = {
    "aiohttp (plain handler)": lambda port: [sys.executable, "-m", "bench.http",
                                             "--serve-aiohttp", str(port)],
    "fw (workers=0)": lambda port: [sys.executable, "-m", "framework.cli", "server:start",
                                    "--app", "bench.http:app", "--port", str(port),
                                    "--workers", "0"],
}


def measure(name: str, seconds: float, connections: int) -> LoadResult:
    port = _free_port()
    with serving(SERVERS[name](port), port) as url:
        load(url, 1, connections)  # warm up
        return load(url, seconds, connections)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2,
                        help="servers are measured in turn this many times; best kept")
    parser.add_argument("--serve-aiohttp", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_aiohttp:
        serve_plain_aiohttp(args.serve_aiohttp)
        return 0
    best: dict[str, LoadResult] = {}
    for _ in range(args.rounds):
        for name in SERVERS:
            result = measure(name, args.seconds, args.connections)
            if name not in best or result.requests_per_second > best[name].requests_per_second:
                best[name] = result
    baseline = best["aiohttp (plain handler)"].requests_per_second
    client = next(iter(best.values())).client
    print(f"GET /hello, one process each, {client} with {args.connections} connections, "
          f"{args.seconds:g} s, best of {args.rounds} rounds")
    print(f"{'server':<26}{'req/s':>10}{'p99 ms':>9}{'errors':>8}{'vs aiohttp':>12}")
    for name, result in best.items():
        print(f"{name:<26}{result.requests_per_second:>10.0f}{result.p99_ms:>9.2f}"
              f"{result.errors:>8}{result.requests_per_second / baseline:>12.2f}")
    ratio = best["fw (workers=0)"].requests_per_second / baseline
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"fw / plain aiohttp = {ratio:.2f} ({verdict} the {TARGET_RATIO} target)")
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
