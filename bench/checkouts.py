"""fw against fw: this checkout's one process against another checkout's, side by side.

For a change that must not cost speed (a redesign that moves code): the other checkout is
the commit before it, e.g. ``git worktree add /tmp/fw-before HEAD~1``. Both serve GET /hello
and the typed POST /orders of bench/ with workers=0, loaded in turn by the same client
(bench/loadgen.py), each round in the other order; each row keeps its best round. Run from
the repository root:

    python -m bench.checkouts --other /tmp/fw-before [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.http import HELLO, PYTHON, TYPED_POST, Workload, check_echo
from bench.loadgen import LoadResult, load
from bench.servers import REPO, free_port, serving

APPS = {HELLO: "bench.apps:app", TYPED_POST: "bench.typed_apps:app"}


def measure(root: Path, workload: Workload, seconds: float, connections: int) -> LoadResult:
    """One round of ``workload`` against fw's one process run from the checkout ``root``."""
    port = free_port()
    command = [PYTHON, "-m", "framework.cli", "server:start", "--app", APPS[workload],
               "--port", str(port), "--workers", "0"]
    with serving(command, port, workload.path, root=root) as url:
        if workload.body is not None:
            check_echo(url, workload.body)
        load(url, 1, connections, workload.body)  # warm up
        return load(url, seconds, connections, workload.body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", type=Path, required=True, help="the checkout to compare")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    checkouts = {"this checkout": REPO, f"other ({args.other})": args.other.resolve()}
    for title, workload in (("GET /hello", HELLO), ("typed POST /orders", TYPED_POST)):
        best: dict[str, LoadResult] = {}
        for round_number in range(args.rounds):
            names = list(checkouts) if round_number % 2 == 0 else list(reversed(checkouts))
            for name in names:
                result = measure(checkouts[name], workload, args.seconds, args.connections)
                if name not in best or result.requests_per_second > best[name].requests_per_second:
                    best[name] = result
        reference = best[f"other ({args.other})"].requests_per_second
        print(f"{title}, one process, {args.connections} connections, {args.seconds:g} s, "
              f"best of {args.rounds} ({best['this checkout'].client}):")
        for name, result in best.items():
            print(f"  {name:<40} {result.requests_per_second:>9.0f} req/s  "
                  f"{result.requests_per_second / reference:>5.3f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
