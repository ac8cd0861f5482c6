"""The server: one process (workers=0) or a master supervising N forked workers.

``start_server`` binds the socket (a port in use is one line and exit code 2), then serves
from this process or hands the socket to the master.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from framework.server.binding import BindError, bind_socket

__all__ = ["start_server"]


def start_server(app: Any, *, host: str | None = None, port: int | None = None,
                 workers: int | str | None = None, pid_file: str | None = None) -> int:
    """Serve ``app`` until stopped; returns the process exit code."""
    from framework.config import FrameworkConfig

    flags = {"host": host, "port": port, "workers": workers}
    given = {name: value for name, value in flags.items() if value is not None}
    if given:
        app.configure("framework", **given)
    config = app.get(FrameworkConfig)
    _configure_logging(config)
    try:
        sock = bind_socket(config.host, config.port, config.reuse_port)
    except BindError as error:
        print(f"fw: {error}", file=sys.stderr)
        return 2
    if config.worker_count() == 0:
        from framework.server.single import run_single

        return run_single(app, config, sock, pid_file)
    from framework.server.master import run_master

    return run_master(app, config, sock, pid_file)


def _configure_logging(config: Any) -> None:
    """INFO to stderr (start-up line, access log) unless the app configured logging itself."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
