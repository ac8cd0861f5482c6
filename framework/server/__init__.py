"""The server: one process (workers=0) or a master supervising N forked workers.

``start_server`` serves from this process or binds the socket and hands it to the master;
a port in use is one line and exit code 2.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from framework.server.binding import BindError, bind_socket

__all__ = ["start_server"]


def start_server(app: Any, *, pid_file: str | None = None) -> int:
    """Serve ``app`` as its FrameworkConfig says (command-line flags included) until stopped;
    returns the process exit code."""
    from framework.config import FrameworkConfig

    config = app.get(FrameworkConfig)
    _configure_logging()
    if config.worker_count() == 0:
        from framework.server.single import run_single

        try:
            return run_single(app, config, pid_file)  # binds once its signal handlers are set
        except BindError as error:
            return _cannot_listen(error)
    try:
        sock = bind_socket(config.host, config.port, config.reuse_port,
                           listen=not config.reuse_port)
    except BindError as error:
        return _cannot_listen(error)
    from framework.server.master import run_master

    return run_master(app, config, sock, pid_file)


def _cannot_listen(error: BindError) -> int:
    print(f"fw: {error}", file=sys.stderr)
    return 2


def _configure_logging() -> None:
    """INFO to stderr (start-up line, access log) unless the app configured logging itself."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
