"""The master's end of one worker's pipe: control frames, broker frames, stats requests.

Control frames go to the arbiter (ready, heartbeat, retire, boot_failed) or answer a stats
request; broker frames go to the master's broker host. Whatever a worker sends, the master
keeps running: bad frames are logged with the worker's id and dropped.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Protocol

from framework.broker import BrokerHost
from framework.channel import MAX_FRAME_SIZE, Channel
from framework.server.control import BROKER, CONTROL, control, handle_control

if TYPE_CHECKING:
    from framework.server.slots import WorkerProcess

logger = logging.getLogger("framework.server")


class PipeListener(Protocol):
    """What the arbiter hears from a worker."""

    def worker_ready(self, worker: WorkerProcess) -> None: ...
    def worker_retiring(self, worker: WorkerProcess, reason: str) -> None: ...
    def worker_closed_pipe(self, worker: WorkerProcess) -> None: ...


class WorkerPipe:
    """Created before the fork, served once the pid is known.

    ``fd`` is the master's end until the channel opens (a child forked meanwhile closes it).
    """

    def __init__(self, conn: Connection, listener: PipeListener,
                 broker_host: BrokerHost | None) -> None:
        self._conn: Connection | None = conn
        self.fd: int | None = conn.fileno()
        self._listener = listener
        self._broker_host = broker_host
        self._channel: Channel | None = None
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None   # a strong reference keeps it running
        self.worker: WorkerProcess

    def start(self, worker: WorkerProcess) -> None:
        self.worker = worker
        self._task = asyncio.get_running_loop().create_task(
            self._serve(), name=f"pipe to {worker}")

    def send(self, message: dict[str, Any]) -> bool:
        """Queue ``message`` to the worker; False when the pipe is not open (yet or anymore)."""
        if self._channel is None or self._channel.is_closing:
            return False
        self._channel.write(message)
        return True

    async def stats(self, timeout: float) -> dict[str, Any] | None:
        """The worker's answer to a stats request, or None when it does not answer in time."""
        request_id = next(self._ids)
        reply = self._replies[request_id] = asyncio.get_running_loop().create_future()
        try:
            if not self.send(control("stats", id=request_id)):
                return None
            return await asyncio.wait_for(reply, timeout)
        except TimeoutError:
            return None
        finally:
            self._replies.pop(request_id, None)

    async def _serve(self) -> None:
        peer = str(self.worker)
        conn, self._conn = self._conn, None
        assert conn is not None
        # Channel.open moves the pipe to a new descriptor and closes this one, whose number
        # may then be reused: from now on the master's loop watches the pipe, and a new
        # child closes what that loop watches (see Arbiter.spawn_worker).
        self.fd = None
        host = self._broker_host
        attached = False
        try:
            self._channel = await Channel.open(
                conn, peer, MAX_FRAME_SIZE if host is None else host.frame_limit)
            if host is not None:
                host.attach(self.worker.pid, self._channel)
                attached = True
            while (message := await self._channel.receive()) is not None:
                self._route(message, peer)
        finally:
            # The worker closes its end only by exiting: its locks, queue messages in
            # flight and subscriptions go now, as it dies.
            if host is not None and attached:
                host.detach(self.worker.pid)
            await self._close_channel()
            self._listener.worker_closed_pipe(self.worker)

    def _route(self, message: dict[str, Any], peer: str) -> None:
        kind = message.get("k")
        if kind == CONTROL:
            handle_control(self, message, peer)
        elif kind == BROKER and self._broker_host is not None:
            try:
                self._broker_host.handle(self.worker.pid, message)
            except Exception:  # noqa: BLE001 - a worker's bad request must not stop the master
                logger.exception("dropped a broker message from %s", peer)
        else:
            logger.warning("dropped a frame of unknown kind %r from %s", kind, peer)

    async def _close_channel(self) -> None:
        if self._channel is not None:
            await self._channel.close()

    # Control messages from the worker.

    def on_ready(self, message: dict[str, Any]) -> None:
        self.worker.last_seen = time.monotonic()
        self._listener.worker_ready(self.worker)

    def on_heartbeat(self, message: dict[str, Any]) -> None:
        self.worker.last_seen = time.monotonic()

    def on_retire(self, message: dict[str, Any]) -> None:
        self._listener.worker_retiring(self.worker, str(message["reason"]))

    def on_boot_failed(self, message: dict[str, Any]) -> None:
        self.worker.boot_error = str(message["error"])

    def on_stats(self, message: dict[str, Any]) -> None:
        reply = self._replies.get(message["id"])
        if reply is not None and not reply.done():
            reply.set_result(message)
