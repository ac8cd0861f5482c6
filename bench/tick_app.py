"""bench/jobs.py's scheduler app: a schedule every 0.2 s that appends how late each run
started (seconds after its tick) to the file FW_BENCH_TICKS names."""

from __future__ import annotations

import os
import time

from framework import App, FrameworkModule, jobs

TICK = 0.2


class Ticker:
    @jobs.every(seconds=TICK)
    async def tick(self) -> None:
        now = time.time()
        with open(os.environ["FW_BENCH_TICKS"], "a") as lateness:
            lateness.write(f"{now - now // TICK * TICK}\n")  # ticks fall on multiples of TICK


app = App(imports=[FrameworkModule(workers=2, access_log=False)], listeners=[Ticker],
          name="bench-ticks")
