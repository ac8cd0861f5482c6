"""The master's end of one worker's pipe: control frames, broker frames, stats requests.

Control frames go to the master's PipeListener (ready, heartbeat, answered, retire,
boot_failed), named by the worker's pid, or answer a stats or metrics request; metrics
snapshots go to the master's sums (PipeMetrics), and a worker's scrape is answered with the
whole server's /metrics text; broker frames go to the master's broker host.
Whatever a worker sends, the master keeps running: bad frames are logged with the worker's
name and dropped. The pipe knows its worker only by pid and name, and its listeners only by
their Protocols (abc.py), so this module needs nothing of the arbiter's bookkeeping
(slots.py), which holds each worker's pipe.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any, Literal

from framework.broker import BrokerHost
from framework.broker.channel import MAX_FRAME_SIZE, Channel
from framework.server import messages as ctl
from framework.server.abc import PipeListener, PipeMetrics

__all__ = ["WorkerPipe"]

logger = logging.getLogger("framework.server")


class WorkerPipe:
    """The master's end ``conn`` of the pipe to worker ``pid`` (``name`` in logs), once forked.

    ``fd`` is the master's end until the channel opens (a child forked meanwhile closes it).
    """

    def __init__(self, conn: Connection, pid: int, name: str, listener: PipeListener,
                 broker_host: BrokerHost | None, metrics: PipeMetrics | None = None) -> None:
        self._conn: Connection | None = conn
        self.fd: int | None = conn.fileno()
        self.pid = pid
        self.name = name
        self._listener = listener
        self._broker_host = broker_host
        self._metrics = metrics
        self._scrapes: set[asyncio.Task[None]] = set()
        self._channel: Channel | None = None
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None   # a strong reference keeps it running

    def start(self) -> None:
        """Serve the pipe on the running loop until the worker closes its end."""
        self._task = asyncio.get_running_loop().create_task(
            self._serve(), name=f"pipe to {self.name}")

    def send(self, message: Mapping[str, object]) -> bool:
        """Queue ``message`` to the worker; False when the pipe is not open (yet or anymore)."""
        if self._channel is None or self._channel.is_closing:
            return False
        self._channel.write(message)
        return True

    async def stats(self, timeout: float) -> dict[str, Any] | None:
        """The worker's answer to a stats request, or None when it does not answer in time."""
        return await self._ask("stats", timeout)

    async def metrics(self, timeout: float) -> dict[str, Any] | None:
        """The worker's metrics snapshot (reported as it arrives), or None without one in time."""
        return await self._ask("metrics", timeout)

    async def _ask(self, op: Literal["stats", "metrics"], timeout: float
                   ) -> dict[str, Any] | None:
        request_id = next(self._ids)
        reply = self._replies[request_id] = asyncio.get_running_loop().create_future()
        request: ctl.AskStats | ctl.AskMetrics = (
            ctl.AskStats(k=ctl.CONTROL, op="stats", id=request_id) if op == "stats"
            else ctl.AskMetrics(k=ctl.CONTROL, op="metrics", id=request_id))
        try:
            if not self.send(request):
                return None
            return await asyncio.wait_for(reply, timeout)
        except TimeoutError:
            return None
        finally:
            self._replies.pop(request_id, None)

    async def wait_closed(self, timeout: float) -> None:
        """Until every frame the worker sent was handled and its end closed, or ``timeout``."""
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=timeout)

    async def _serve(self) -> None:
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
                conn, self.name, MAX_FRAME_SIZE if host is None else host.frame_limit)
            if host is not None:
                host.attach(self.pid, self._channel)
                attached = True
            while (message := await self._channel.receive()) is not None:
                self._route(message)
        finally:
            # The worker closes its end only by exiting: its locks, queue messages in
            # flight and subscriptions go now, as it dies.
            if host is not None and attached:
                host.detach(self.pid)
            if self._metrics is not None:  # every report it sent was read: its counts stay
                self._metrics.retire()
            await self._close_channel()
            self._listener.worker_closed_pipe(self.pid)

    def _route(self, message: dict[str, Any]) -> None:
        kind = message.get("k")
        if kind == ctl.CONTROL:
            ctl.handle_control(self, message, self.name)
        elif kind == ctl.BROKER and self._broker_host is not None:
            try:
                self._broker_host.handle(self.pid, message)
            except Exception:  # noqa: BLE001 - a worker's bad request must not stop the master
                logger.exception("dropped a broker message from %s", self.name)
        else:
            logger.warning("dropped a frame of unknown kind %r from %s", kind, self.name)

    async def _close_channel(self) -> None:
        if self._channel is not None:
            await self._channel.close()

    # Control messages from the worker.

    def on_ready(self, message: ctl.Ready) -> None:
        self._listener.worker_ready(self.pid)

    def on_heartbeat(self, message: ctl.Heartbeat) -> None:
        self._listener.worker_heard_from(self.pid)

    def on_answered(self, message: ctl.Answered) -> None:
        self._listener.worker_answered(self.pid)

    def on_retire(self, message: ctl.Retire) -> None:
        self._listener.worker_retiring(self.pid, str(message["reason"]))

    def on_boot_failed(self, message: ctl.BootFailed) -> None:
        self._listener.worker_boot_failed(self.pid, str(message["error"]))

    def on_stats(self, message: dict[str, Any]) -> None:
        self._answered(message)

    def on_metrics(self, message: dict[str, Any]) -> None:
        """Its snapshot: asked for (with the request's id) or reported on its own."""
        snapshot = message["snapshot"]
        if not isinstance(snapshot, dict):
            raise TypeError("a metrics snapshot is a JSON object")
        if self._metrics is not None:
            self._metrics.report(snapshot)
        if "id" in message:
            self._answered(message)

    def on_scrape(self, message: ctl.Scrape) -> None:
        """It was asked for /metrics: answer with the whole server's text."""
        if self._metrics is None:
            return
        task = asyncio.get_running_loop().create_task(self._answer_scrape(
            self._metrics, int(message["id"])))
        self._scrapes.add(task)
        task.add_done_callback(self._scrapes.discard)

    async def _answer_scrape(self, metrics: PipeMetrics, request_id: int) -> None:
        try:
            self.send(ctl.Scraped(k=ctl.CONTROL, op="scraped", id=request_id,
                              text=(await metrics.exposition()).decode()))
        except Exception as error:  # noqa: BLE001 - the worker answers 503; the master lives
            logger.exception("gathering metrics for %s failed", self.name)
            self.send(ctl.Scraped(k=ctl.CONTROL, op="scraped", id=request_id,
                              error=type(error).__name__))

    def _answered(self, message: dict[str, Any]) -> None:
        reply = self._replies.get(message["id"])
        if reply is not None and not reply.done():
            reply.set_result(message)
