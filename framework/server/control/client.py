"""The CLI's end of a running server's control socket: requests, and the server's broker.

``ControlClient`` sends one request at a time and waits, bounded, for its answer. A server
that is not running is a NoServer error with one line naming the socket it looked for; one
that serves another project, or does not say which, is OtherServer (see identity.py), and
nothing is asked of it.
``attach_server_broker`` makes a CLI process's BrokerAdapter a pipe to the running
server's broker, served by its BrokerHost as a worker's pipe is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Protocol, TypeVar, cast

from framework.broker import BrokerAdapter
from framework.broker.channel import Channel
from framework.broker.pipe import PipeAdapter, attach_to_master
from framework.broker.protocol import KIND
from framework.config import FrameworkConfig
from framework.errors import FrameworkError
from framework.server.control.frames import (
    BrokerAnswer,
    ControlRequest,
    IdentifyAnswer,
    ReloadAnswer,
    ScaleAnswer,
    ServerStatus,
    StatusAnswer,
    StopAnswer,
)
from framework.server.control.identity import ServerIdentity
from framework.server.control.listener import REQUEST_FRAME_LIMIT, find_control_socket

logger = logging.getLogger("framework.server")

CONNECT_TIMEOUT = 5.0
ANSWER_TIMEOUT = 10.0   # for requests answered at once (status, scale, stop, broker)
POLL_INTERVAL = 0.05    # how often a command waiting for the server looks again
STOP_MARGIN = 10.0      # what a stop may take beyond the workers' drain (listeners, teardown)

Answer = TypeVar("Answer", bound=Mapping[str, object])


class NoServer(FrameworkError):
    """No server answers on the control socket; the message names the socket."""


class OtherServer(NoServer):
    """The server on the socket is not this project's, or did not say whose it is."""


class ControlError(FrameworkError):
    """The server refused a request or did not answer it; the message says which."""


class ControlClient:
    """One connection to the control socket at ``path``."""

    def __init__(self, channel: Channel, path: Path) -> None:
        self.channel = channel
        self.path = path

    @classmethod
    async def connect(cls, path: Path, identity: ServerIdentity | None) -> ControlClient:
        """Connect to the server of ``identity`` (any server with None: a socket the
        operator named); NoServer when none answers, OtherServer when another does."""
        name = identity.describe() if identity is not None else "the app"
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(path)), CONNECT_TIMEOUT)
        except FileNotFoundError:
            raise NoServer(f"no server running for {name} (no control socket at "
                           f"{path})") from None
        except ConnectionRefusedError:
            raise NoServer(f"no server running for {name} (nothing answers on {path}, "
                           "left by a server that exited)") from None
        except PermissionError:
            raise NoServer(f"cannot open the control socket {path}: it belongs to another "
                           "user") from None
        except (TimeoutError, OSError) as error:
            raise NoServer(f"the server of {name} does not answer on {path}: "
                           f"{error}") from None
        client = cls(Channel(reader, writer, "the server", REQUEST_FRAME_LIMIT), path)
        if identity is not None:
            try:
                await client.confirm(identity)
            except BaseException:
                await client.close()
                raise
        return client

    async def confirm(self, identity: ServerIdentity) -> None:
        """OtherServer unless the server says it serves ``identity``."""
        try:
            answer = await self.request({"op": "identify"}, IdentifyAnswer)
            server = ServerIdentity.from_json(answer.get("server"))
        except ControlError:
            server = None
        if server is None:
            raise OtherServer(f"the server on {self.path} does not say which project it "
                              "serves: refused (name its socket with --socket to use it "
                              "anyway)")
        if not identity.matches(server):
            raise OtherServer(f"the server on {self.path} is {server.describe()}, not "
                              f"{identity.describe()}: refused (run fw in its project, or "
                              "name its socket with --socket)")

    async def request(self, request: ControlRequest, expected: type[Answer],
                      wait: float = ANSWER_TIMEOUT) -> Answer:
        """The server's answer to ``request`` within ``wait`` seconds, an ``expected`` frame
        (the server is fw's: frames.py is its too); ControlError when it refuses or stays
        silent."""
        op = request["op"]
        await self.channel.send(request)
        try:
            answer = await asyncio.wait_for(self.channel.receive(), wait)
        except TimeoutError:
            raise ControlError(f"the server did not answer {op} within {wait:g}s") from None
        if answer is None:
            raise ControlError(f"the server closed the control connection during {op}")
        if answer.get("ok") is not True:
            raise ControlError(str(answer.get("error", f"{op} failed")))
        return cast(Answer, answer)

    async def close(self) -> None:
        await self.channel.close()


async def request_once(path: Path, identity: ServerIdentity | None, request: ControlRequest,
                       expected: type[Answer], wait: float = ANSWER_TIMEOUT) -> Answer:
    """Connect (confirming ``identity``), send ``request``, close: the answer."""
    client = await ControlClient.connect(path, identity)
    try:
        return await client.request(request, expected, wait)
    finally:
        await client.close()


# What each command asks of the server.


async def server_status(path: Path, identity: ServerIdentity | None) -> ServerStatus:
    """The server and its workers (see framework/server/control/status.py for the fields)."""
    return (await request_once(path, identity, {"op": "status"}, StatusAnswer))["status"]


async def reload_server(path: Path, identity: ServerIdentity | None, timeout: float) -> int:
    """Roll every worker onto the code on disk; the new generation once all of it serves.

    ControlError naming what stopped the reload (the old workers then keep serving).
    """
    answer = await request_once(path, identity, {"op": "reload", "timeout": timeout},
                                ReloadAnswer, timeout + ANSWER_TIMEOUT)
    return answer["generation"]


async def scale_server(path: Path, identity: ServerIdentity | None, workers: int,
                       timeout: float) -> ServerStatus:
    """Ask for ``workers`` workers; the status once exactly that many serve."""
    client = await ControlClient.connect(path, identity)
    try:
        await client.request({"op": "scale", "workers": workers}, ScaleAnswer)
        deadline = time.monotonic() + timeout
        while True:
            status = (await client.request({"op": "status"}, StatusAnswer))["status"]
            states = [worker["state"] for worker in status["workers"]]
            if states == ["serving"] * workers:
                return status
            if time.monotonic() >= deadline:
                raise ControlError(f"{states.count('serving')} of {workers} workers serving "
                                   f"after {timeout:g}s (fw server:status shows them)")
            await asyncio.sleep(POLL_INTERVAL)
    finally:
        await client.close()


async def stop_server(path: Path, identity: ServerIdentity | None, timeout: float | None) -> int:
    """Stop the server gracefully; its master's pid once that process has exited.

    Waits ``timeout`` seconds, by default what its workers may take to drain, plus 10.
    """
    answer = await request_once(path, identity, {"op": "stop"}, StopAnswer)
    pid = answer["pid"]
    if timeout is None:
        timeout = answer["drain_timeout"] + STOP_MARGIN
    if not await wait_until_gone(pid, timeout):
        raise ControlError(f"the master (pid {pid}) is still stopping after {timeout:g}s")
    return pid


async def wait_until_gone(pid: int, timeout: float) -> bool:
    """True once process ``pid`` has exited (a zombie counts as gone), within ``timeout``."""
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_INTERVAL)
    return True


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs: exists, and is not a zombie waiting for its parent."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel (a zombie still looks alive then)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


# A CLI command's broker: the running server's.


class ProcessContainer(Protocol):
    """What attaching needs of the App: tell this process's container what its broker is."""

    def override_in_process(self, token: Hashable, value: object) -> None: ...


class ServerBroker:
    """This process's BrokerAdapter, a pipe to the server's broker over its control socket."""

    def __init__(self, client: ControlClient, adapter: PipeAdapter) -> None:
        self.client = client
        self.adapter = adapter
        self._reader = asyncio.get_running_loop().create_task(
            self._read(), name="server broker")

    async def _read(self) -> None:
        """Hand the server's broker frames (answers, messages, jobs) to the adapter."""
        channel = self.client.channel
        while (message := await channel.receive()) is not None:
            if message.get("k") == KIND:
                self.adapter.handle(message)
        await self.adapter.close()

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self.adapter.close()
        await self.client.close()


async def attach_server_broker(app: ProcessContainer, identity: ServerIdentity,
                               config: FrameworkConfig) -> ServerBroker | None:
    """When the app's server runs here with fw's own broker, make this process's broker a
    pipe to it; None (the configured broker stays) with Redis or with no server of this
    project running."""
    if config.broker_url:
        return None
    try:
        server_broker = await open_server_broker(find_control_socket(config, identity),
                                                 identity, config)
    except NoServer:
        return None
    except (ControlError, ConnectionError, OSError) as error:
        logger.warning("not using the running server's broker: %s", error)
        return None
    app.override_in_process(BrokerAdapter, server_broker.adapter)
    return server_broker


async def open_server_broker(path: Path, identity: ServerIdentity | None,
                             config: FrameworkConfig) -> ServerBroker:
    """A pipe to the broker of the server answering on ``path``; NoServer when none runs,
    ControlError (or ConnectionError) when it refuses."""
    client = await ControlClient.connect(path, identity)
    try:
        answer = await client.request({"op": "broker"}, BrokerAnswer)
    except BaseException:
        await client.close()
        raise
    adapter = attach_to_master(client.channel, config)
    client.channel.max_frame_size = answer["frame_limit"]  # the server's, for both ends
    return ServerBroker(client, adapter)
