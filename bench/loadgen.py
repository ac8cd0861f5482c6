"""Load a URL for a while with a fixed number of connections; report requests/s and p99.

``load(url, seconds, connections)`` uses wrk when it is installed and otherwise the aiohttp
load generator below, so every row of a benchmark run is measured by the same client.
``load(url, ..., body=b"{...}")`` POSTs that JSON body on every request instead of GETting
(wrk through a Lua script). Import it from other benchmarks: ``from bench.loadgen import load``.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True)
class LoadResult:
    requests_per_second: float
    p99_ms: float
    requests: int
    errors: int
    client: str


def load(url: str, seconds: float = 5.0, connections: int = 64,
         body: bytes | None = None) -> LoadResult:
    """GET ``url`` (POST ``body`` as JSON, when given) over ``connections`` keep-alive
    connections for ``seconds``."""
    if shutil.which("wrk"):
        return load_with_wrk(url, seconds, connections, body)
    return asyncio.run(load_with_aiohttp(url, seconds, connections, body))


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk_command(url: str, seconds: float, connections: int) -> list[str]:
    """wrk with one thread (the machine's other cores belong to the server)."""
    return ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", url]


def load_with_wrk(url: str, seconds: float, connections: int,
                  body: bytes | None = None) -> LoadResult:
    command = wrk_command(url, seconds, connections)
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        if body is not None:
            script.write(post_script(body))
            script.flush()
            command[1:1] = ["-s", script.name]
        output = subprocess.run(command, capture_output=True, text=True, check=True,
                                timeout=seconds + 30).stdout
    return parse_wrk(output)


def post_script(body: bytes) -> str:
    """A wrk Lua script that POSTs ``body`` as JSON on every request."""
    return ('wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = [==[{body.decode()}]==]\n")


def parse_wrk(output: str) -> LoadResult:
    """wrk's summary (printed at its end, or when it is interrupted) as a LoadResult."""
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
    total = int(re.search(r"(\d+) requests in", output).group(1))
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                              r"timeout (\d+)", output)
    errors = int(failed.group(1)) if failed else 0
    if socket_errors:
        errors += sum(int(count) for count in socket_errors.groups())
    return LoadResult(rate, float(value) * _UNITS_MS[unit], total, errors, "wrk")


async def load_with_aiohttp(url: str, seconds: float, connections: int,
                            body: bytes | None = None) -> LoadResult:
    """The fallback client: ``connections`` tasks, each sending one request at a time."""
    method = "GET" if body is None else "POST"
    headers = {} if body is None else {"Content-Type": "application/json"}
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal errors
            while (started := time.perf_counter()) < deadline:
                try:
                    async with session.request(method, url, data=body,
                                               headers=headers) as response:
                        await response.read()
                        if response.status >= 400:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else 0.0
    return LoadResult(len(latencies) / elapsed, p99, len(latencies), errors, "aiohttp")
