"""How evenly fw's workers share a burst of keep-alive connections: the busiest one's share.

A trial is one wrk run (64 keep-alive connections opened at once, a load balancer's upstream
pool) against a server already serving with all its workers; each worker's requests come
from ``fw server:status --json`` (workers[].requests) before and after it, and the trial's
figure is the busiest worker's share of them. The issue's bar (#19): in each of 8 trials no
worker above 55% with 2 workers, 35% with 4. ``bench/http.py --tables balance`` prints the
table (``print_balance``): fw's default shared socket (balanced accepting), reuse_port, and,
given another checkout (``--unbalanced``: the commit before balanced accepting), its old
accept loop. ``shares`` is the measurement, for one server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench.loadgen import load
from bench.servers import REPO, bench_env, free_port, serving

STATUS_TIMEOUT = 30.0  # seconds: every worker serving, else the row fails
FW = [sys.executable, "-m", "framework.cli"]


def worker_requests(root: Path, app: str, port: int) -> dict[int, int]:
    """Requests answered so far by each serving worker, by pid."""
    result = subprocess.run(
        [*FW, "server:status", "--json", "--app", app, "--port", str(port)],
        cwd=root, env=bench_env(root), capture_output=True, text=True, check=True, timeout=30)
    return {worker["pid"]: worker["requests"] or 0
            for worker in json.loads(result.stdout)["workers"] if worker["state"] == "serving"}


def wait_serving(root: Path, app: str, port: int, workers: int) -> None:
    """Until ``workers`` workers serve (the server may not answer its control socket yet)."""
    deadline = time.monotonic() + STATUS_TIMEOUT
    while True:
        try:
            if len(worker_requests(root, app, port)) >= workers:
                return
        except subprocess.CalledProcessError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{workers} workers were not serving after {STATUS_TIMEOUT} s")
        time.sleep(0.1)


def shares(app: str, workers: int, trials: int = 8, seconds: float = 1.0,
           connections: int = 64, root: Path = REPO) -> list[float]:
    """The busiest worker's share of each trial's requests: ``app`` (``module:attr``, from
    the checkout at ``root``) served by ``workers`` workers, loaded ``trials`` times."""
    port = free_port()
    command = [*FW, "server:start", "--app", app, "--port", str(port),
               "--workers", str(workers)]
    busiest: list[float] = []
    with serving(command, port, root=root) as url:
        wait_serving(root, app, port, workers)
        for _ in range(trials):
            before = worker_requests(root, app, port)
            load(url, seconds, connections)
            after = worker_requests(root, app, port)
            served = [after[pid] - before.get(pid, 0) for pid in after]
            busiest.append(max(served) / max(sum(served), 1))
    return busiest



BARS = {2: 0.55, 4: 0.35}  # workers: the busiest worker's share, at most, in every trial
BALANCED = "shared socket, balanced (default)"


def print_balance(trials: int, seconds: float, connections: int,
                  unbalanced: Path | None) -> list[tuple[str, float, float]]:
    """The balance table, 2 and 4 workers; returns (label, worst share, bar) of fw's
    default row for each."""
    rows = [(BALANCED, "bench.apps:app", REPO),
            ("reuse_port", "bench.apps:app_reuse_port", REPO)]
    if unbalanced is not None:
        rows.append((f"shared socket, unbalanced ({unbalanced})", "bench.apps:app",
                     unbalanced.resolve()))
    print(f"Busiest worker's share of the requests, {trials} trials of {connections} "
          f"keep-alive connections opened at once, {seconds:g} s each:")
    print(f"| {'socket':<40} | workers | {'per trial':<{5 * trials}} | worst | bar  |")
    print(f"|{'-' * 42}|--------:|{'-' * (5 * trials + 2)}|------:|-----:|")
    worst: list[tuple[str, float, float]] = []
    for workers, bar in BARS.items():
        for name, app, root in rows:
            figures = shares(app, workers, trials, seconds, connections, root)
            per_trial = " ".join(f"{share:>4.0%}" for share in figures)
            print(f"| {name:<40} | {workers:>7} | {per_trial:<{5 * trials}} | "
                  f"{max(figures):>5.0%} | {bar:>4.0%} |")
            if name == BALANCED:
                worst.append((f"busiest worker, {workers} workers, balanced", max(figures), bar))
    return worst
