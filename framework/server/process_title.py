"""Process titles, so `ps` and `top` tell the master from its workers: `fw: master <app>`."""

from __future__ import annotations

import setproctitle


def title_master(app_name: str) -> None:
    setproctitle.setproctitle(f"fw: master {app_name}")


def title_worker(worker_id: int, app_name: str) -> None:
    setproctitle.setproctitle(f"fw: worker {worker_id} {app_name}")
