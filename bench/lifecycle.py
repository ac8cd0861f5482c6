"""How fast fw's workers start and come back, and what each one costs in memory.

1. start-up: from launching ``fw server:start --workers 4`` to every worker serving (the
   master's "all 4 workers serving" line);
2. restart: from ``kill -9`` of a worker (serving for a while) to its replacement serving;
3. memory: each worker's USS (memory unique to it: what one more worker costs) after it
   served requests;
4. rolling restarts under load: 4 keep-alive connections (wrk when installed) load /hello
   while the master is sent SIGHUP, each time until every old worker is gone;
5. reload: ``fw server:reload`` (every worker imports the app afresh), timed from running
   the command to its return, while wrk loads /hello over 4 keep-alive connections from
   the same moment until the command returns: the requests served during it.

Targets: start-up under 1.5 s, restart under 0.5 s, USS under 15 MiB, a reload under 3 s,
no failed request across the rolling restarts and the reload. Run from the repository's
root (the reload row needs wrk):

    python -m bench.lifecycle [--workers 4] [--kills 3] [--rolling 3]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import psutil

from bench.loadgen import LoadResult, load, parse_wrk, wrk_command
from bench.servers import REPO, bench_env, free_port
from framework.server.master.slots import STABLE_AFTER

START_TARGET = 1.5
RESTART_TARGET = 0.5
USS_TARGET_MIB = 15.0
RELOAD_TARGET = 3.0
RELOAD_DONE = re.compile(r"reload done in ([\d.]+) s")
SERVING = re.compile(r"worker (\d+) \(pid (\d+)\) serving")
KEEP_ALIVE_CONNECTIONS = 4
LOAD_BEFORE_RESTARTS = 1.0  # seconds of load before the first SIGHUP
LOAD_SECONDS = 8            # the whole load; the rolling restarts happen within it


class Server:
    """``fw server:start`` of bench/apps.py's app; every log line with the time it was read."""

    def __init__(self, workers: int) -> None:
        self.port = free_port()
        self.lines: list[tuple[float, str]] = []
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "framework.cli", "server:start", "--app", "bench.apps:app",
             "--port", str(self.port), "--workers", str(workers)],
            cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
            env=bench_env())
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append((time.perf_counter(), line.rstrip()))

    def wait_line(self, pattern: re.Pattern[str] | str, since: float = 0.0,
                  timeout: float = 30.0) -> tuple[float, re.Match[str]]:
        """The time of the first log line read after ``since`` that matches ``pattern``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, line in list(self.lines):
                match = re.search(pattern, line)
                if at >= since and match:
                    return at, match
            if self.process.poll() is not None:
                break
            time.sleep(0.001)
        raise RuntimeError(f"no {pattern!r} in the log:\n" +
                           "\n".join(line for _, line in self.lines))

    def workers(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


def restarts_under_load(server: Server, restarts: int) -> tuple[LoadResult, list[float]]:
    """Keep-alive load on /hello while the master rolls its workers ``restarts`` times: the
    load's result, and each restart's time from SIGHUP to every old worker gone."""
    url = f"http://127.0.0.1:{server.port}/hello"
    durations = []
    with ThreadPoolExecutor(1) as pool:
        loading = pool.submit(load, url, LOAD_SECONDS, KEEP_ALIVE_CONNECTIONS)
        time.sleep(LOAD_BEFORE_RESTARTS)
        for _ in range(restarts):
            old = {worker.pid for worker in server.workers()}
            signalled_at = time.perf_counter()
            server.process.send_signal(signal.SIGHUP)
            while old & {worker.pid for worker in server.workers()}:
                time.sleep(0.001)
            durations.append(time.perf_counter() - signalled_at)
        if LOAD_BEFORE_RESTARTS + sum(durations) > LOAD_SECONDS:
            raise RuntimeError(f"the restarts outlasted the load: {durations}")
        return loading.result(), durations


def reload_under_load(server: Server) -> tuple[float, float, LoadResult]:
    """``fw server:reload`` while wrk loads /hello from the same moment until it returns:
    the command's time, the master's own ("reload done in"), and what wrk saw meanwhile."""
    url = f"http://127.0.0.1:{server.port}/hello"
    wrk = subprocess.Popen(wrk_command(url, 120, KEEP_ALIVE_CONNECTIONS),
                           stdout=subprocess.PIPE, text=True)
    started = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-m", "framework.cli", "server:reload", "--app",
                        "bench.apps:app", "--port", str(server.port)],
                       cwd=REPO, env=bench_env(), check=True, capture_output=True, timeout=120)
        took = time.perf_counter() - started
    finally:
        wrk.send_signal(signal.SIGINT)  # wrk prints its summary so far
        output, _ = wrk.communicate(timeout=30)
    _, done = server.wait_line(RELOAD_DONE, since=started)
    return took, float(done.group(1)), parse_wrk(output)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--rolling", type=int, default=3)
    args = parser.parse_args()
    server = Server(args.workers)
    try:
        serving_at, _ = server.wait_line(f"all {args.workers} workers serving")
        start_up = serving_at - server.started
        for _ in range(200):
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/hello") as response:
                response.read()
        uss = {worker.pid: worker.memory_full_info().uss / 2**20 for worker in server.workers()}
        restarts = []
        for _ in range(args.kills):
            time.sleep(STABLE_AFTER)  # a worker killed early in its life restarts after a backoff
            victim = server.workers()[0].pid
            killed_at = time.perf_counter()
            os.kill(victim, signal.SIGKILL)
            back_at, _ = server.wait_line(SERVING, since=killed_at)
            restarts.append(back_at - killed_at)
        rolled, rolling = restarts_under_load(server, args.rolling)
        reload_took, master_took, during_reload = reload_under_load(server)
    finally:
        server.stop()

    worst_uss = max(uss.values())
    rows = [
        (f"start-up: launch to {args.workers} workers serving", f"{start_up:.3f} s",
         f"< {START_TARGET} s", start_up < START_TARGET),
        (f"restart: kill -9 to serving (worst of {args.kills})", f"{max(restarts):.3f} s",
         f"< {RESTART_TARGET} s", max(restarts) < RESTART_TARGET),
        (f"memory: USS per worker (largest of {len(uss)})", f"{worst_uss:.1f} MiB",
         f"< {USS_TARGET_MIB:g} MiB", worst_uss < USS_TARGET_MIB),
        (f"keep-alive requests failed over {args.rolling} SIGHUPs",
         f"{rolled.errors} of {rolled.requests}", "0", rolled.errors == 0),
        (f"fw server:reload of {args.workers} workers", f"{reload_took:.3f} s",
         f"< {RELOAD_TARGET:g} s", reload_took < RELOAD_TARGET),
        ("requests failed during the reload",
         f"{during_reload.errors} of {during_reload.requests}", "0", during_reload.errors == 0),
    ]
    print(f"fw server:start --workers {args.workers}, bench/apps.py's app")
    print(f"{'measure':<46}{'value':>11}{'target':>12}")
    for name, value, target, met in rows:
        print(f"{name:<46}{value:>11}{target:>12}  {'ok' if met else 'MISSED'}")
    print("restarts: " + ", ".join(f"{seconds:.3f} s" for seconds in restarts))
    print("USS per worker: " + ", ".join(f"{mib:.1f} MiB" for mib in sorted(uss.values())))
    print(f"rolling restarts under {rolled.client}'s load, SIGHUP to every old worker gone: "
          + ", ".join(f"{seconds:.3f} s" for seconds in rolling))
    print(f"fw server:reload: {reload_took:.3f} s from running the command to its return "
          f"({master_took:.3f} s in the master); wrk served {during_reload.requests} requests "
          f"meanwhile ({during_reload.requests_per_second:,.0f}/s, p99 "
          f"{during_reload.p99_ms:.1f} ms)")
    return 0 if all(met for *_, met in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
