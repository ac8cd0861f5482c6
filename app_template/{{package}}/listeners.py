"""Lifecycle listeners: code that runs when a worker starts."""

import logging

from framework import ProcessInfo, event_dispatcher
from framework.events import ServerEvent, on_server_worker_bootstrap

logger = logging.getLogger("{{package}}")


class WorkerAnnouncer:
    def __init__(self, process: ProcessInfo) -> None:
        self.process = process

    @event_dispatcher.listen(on_server_worker_bootstrap)
    def announce(self, event: ServerEvent) -> None:
        logger.info("worker %s is starting (pid %s)", self.process.worker_id, self.process.pid)
