"""The master's control socket: operators' requests (status, reload, scale, stop) and the
CLI's broker connections, on a Unix socket only the server's user can open.

The socket file is mode 0600 in a 0700 directory: FrameworkConfig.control_socket, or by
default ``<tmp>/fw-<uid>/<app name>-<port>.sock``. A request is a JSON frame (the framing of
framework.broker.channel) ``{"op": ...}``; each gets one answer ``{"ok": true, ...}`` or
``{"ok": false, "error": "..."}`` (frames.py defines each). A ``broker`` request turns the
connection into a broker pipe, which the server's BrokerHost serves exactly like a worker's.
A client silent for IDLE_TIMEOUT seconds is closed; a garbage frame is logged and dropped.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import socket
import stat
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from framework.broker.channel import HEADER, Channel, FrameError, decode_frame, encode_payload
from framework.broker.protocol import KIND
from framework.config import FrameworkConfig
from framework.errors import FrameworkError
from framework.server.abc import Operated
from framework.server.control.frames import (
    BrokerAnswer,
    ControlAnswer,
    IdentifyAnswer,
    Refusal,
    ReloadAnswer,
    ScaleAnswer,
    SimpleRequest,
    StatusAnswer,
    StopAnswer,
)
from framework.server.control.identity import ServerIdentity

logger = logging.getLogger("framework.server")

IDLE_TIMEOUT = 5.0              # a client must send its next request within this
REQUEST_FRAME_LIMIT = 64 * 1024  # requests are small; a broker connection gets the host's limit
PROBE_TIMEOUT = 1.0              # how long a start-up waits to see if another server answers

Request = Mapping[str, object]  # a request as it arrived: JSON, its fields checked where used
Operation = Callable[[Request], Awaitable[ControlAnswer]]


class ControlSocketError(FrameworkError):
    """The control socket cannot be opened; the message says why and what to do."""


def control_socket_path(config: FrameworkConfig, app_name: str, port: int | None = None) -> Path:
    """Where the server of ``app_name`` on ``port`` (default: config.port) answers operators."""
    if config.control_socket:
        return Path(config.control_socket)
    port = config.port if port is None else port
    return default_directory() / f"{_file_name(app_name)}-{port}.sock"


def find_control_socket(config: FrameworkConfig, identity: ServerIdentity,
                        port: int | None = None) -> Path:
    """The control socket of this project's server on this machine: ``control_socket_path``,
    or, when nothing is there and neither a port nor control_socket was given, the only
    socket whose server identifies as this project's app (one started with ``--port``)."""
    path = control_socket_path(config, identity.app, port)
    if path.exists() or port is not None or config.control_socket:
        return path
    found = project_sockets(identity)
    return found[0] if len(found) == 1 else path


def project_sockets(identity: ServerIdentity, port: int | None = None) -> list[Path]:
    """The control sockets in this user's directory of servers that identify as
    ``identity``'s project (and app, when it is named), on ``port`` or any."""
    found = []
    for path in sorted(default_directory().glob("*.sock")):
        named = _SOCKET_NAME.fullmatch(path.name)
        if named and (not identity.app or named["app"] == _file_name(identity.app)) \
                and (port is None or int(named["port"]) == port):
            server = identify(path)
            if server is not None and identity.matches(server):
                found.append(path)
    return found


def identify(path: Path) -> ServerIdentity | None:
    """Who answers on ``path``, asked with a blocking socket within PROBE_TIMEOUT; None
    when nothing answers or the answer is no identity."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(PROBE_TIMEOUT)
        try:
            probe.connect(str(path))
            request = encode_payload(SimpleRequest(op="identify"))
            probe.sendall(HEADER.pack(len(request)) + request)
            with probe.makefile("rb") as answers:
                header = answers.read(HEADER.size)
                size = HEADER.unpack(header)[0] if len(header) == HEADER.size else -1
                if not 0 <= size <= REQUEST_FRAME_LIMIT:
                    return None
                answer = decode_frame(answers.read(size))
        except (OSError, FrameError):
            return None
    return ServerIdentity.from_json(answer.get("server"))


_SOCKET_NAME = re.compile(r"(?P<app>.+)-(?P<port>\d+)\.sock")


def _file_name(app_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", app_name) or "app"


def default_directory() -> Path:
    """This user's directory of control sockets, ``<tmp>/fw-<uid>``."""
    return Path(tempfile.gettempdir()) / f"fw-{os.getuid()}"


class ControlServer:
    """Serves ``operated`` on the Unix socket at ``path`` until ``close()``."""

    def __init__(self, operated: Operated, path: Path, identity: ServerIdentity) -> None:
        self.operated = operated
        self.path = path
        self.identity = identity
        self._server: asyncio.Server | None = None
        self._inode = 0
        self._clients: set[Channel] = set()
        self._numbers = itertools.count(1)
        self._operations: dict[str, Operation] = {
            "identify": self._identify, "status": self._status, "reload": self._reload,
            "scale": self._scale, "stop": self._stop,
        }

    async def open(self) -> None:
        """Listen at ``path``: ControlSocketError when another server answers there, or
        when the path cannot be made private."""
        sock = _listen_privately(self.path, own_directory=self.path.parent == default_directory())
        self._inode = os.stat(self.path).st_ino
        self._server = await asyncio.start_unix_server(self._serve_client, sock=sock)
        logger.info("control socket: %s", self.path)

    async def close(self) -> None:
        """Stop listening, close every client, remove the socket file (if still ours)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for channel in list(self._clients):
            await channel.close()
        try:
            if os.stat(self.path).st_ino == self._inode:
                self.path.unlink()
        except FileNotFoundError:
            pass

    async def _serve_client(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        channel = Channel(reader, writer, f"control client {next(self._numbers)}",
                          REQUEST_FRAME_LIMIT)
        self._clients.add(channel)
        try:
            while (request := await _next_request(channel)) is not None:
                if request.get("op") == "broker":
                    await self._serve_broker(channel)
                    return
                await channel.send(await self._answer(request, channel.peer))
        except (ConnectionError, OSError):
            pass  # the client went away: nothing to answer
        finally:
            self._clients.discard(channel)
            await channel.close()

    async def _answer(self, request: Request, peer: str) -> ControlAnswer:
        op = request.get("op")
        operation = self._operations.get(op) if isinstance(op, str) else None
        if operation is None:
            return refusal(f"unknown operation {op!r}; operations: "
                           f"{', '.join([*self._operations, 'broker'])}")
        try:
            return await operation(request)
        except (KeyError, TypeError, ValueError) as error:
            return refusal(f"{op}: {error}")
        except Exception as error:  # noqa: BLE001 - an operator's request never stops the master
            logger.exception("control socket: %s from %s failed", op, peer)
            return refusal(f"{op} failed: {type(error).__name__}: {error}")

    # Operations: each takes the request, returns its answer or raises ValueError.

    async def _identify(self, request: Request) -> IdentifyAnswer:
        return {"ok": True, "server": {**self.identity.to_json(), "pid": os.getpid()}}

    async def _status(self, request: Request) -> StatusAnswer:
        return {"ok": True, "status": {**await self.operated.status(),
                                       **self.identity.to_json()}}

    async def _reload(self, request: Request) -> ReloadAnswer:
        timeout = request.get("timeout", 60.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"timeout must be seconds > 0, got {timeout!r}")
        outcome = await self.operated.reload(float(timeout))
        return {"ok": outcome.ok, "error": outcome.error, "generation": outcome.generation}

    async def _scale(self, request: Request) -> ScaleAnswer:
        workers = request["workers"]
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")
        self.operated.scale(workers)
        return {"ok": True, "workers": workers}

    async def _stop(self, request: Request) -> StopAnswer:
        drain = self.operated.request_stop(graceful=request.get("graceful", True) is not False)
        return {"ok": True, "pid": os.getpid(), "drain_timeout": drain}

    async def _serve_broker(self, channel: Channel) -> None:
        """The rest of the connection is a broker pipe, like a worker's."""
        host = self.operated.broker_host
        if host is None:
            await channel.send(refusal("this server's broker is Redis (broker_url): use it "
                                       "directly"))
            return
        channel.max_frame_size = host.frame_limit
        accepted: BrokerAnswer = {"ok": True, "frame_limit": host.frame_limit}
        await channel.send(accepted)
        host.attach(channel.peer, channel)
        try:
            while (message := await channel.receive()) is not None:
                if message.get("k") != KIND:
                    logger.warning("dropped a frame of unknown kind %r from %s",
                                   message.get("k"), channel.peer)
                    continue
                try:
                    host.handle(channel.peer, message)
                except Exception:  # noqa: BLE001 - a bad request must not stop the master
                    logger.exception("dropped a broker message from %s", channel.peer)
        finally:
            host.detach(channel.peer)


def _answers(path: Path, busy_answers: bool = False) -> bool:
    """Whether a server accepts connections on ``path`` (one too busy to accept in time:
    ``busy_answers``)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(PROBE_TIMEOUT)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except OSError:
        return busy_answers
    finally:
        probe.close()
    return True


def refusal(error: str) -> Refusal:
    """The answer to a request the server cannot carry out."""
    return {"ok": False, "error": error}


async def _next_request(channel: Channel) -> Request | None:
    """The client's next request; None once it closed or stayed silent for IDLE_TIMEOUT."""
    try:
        return await asyncio.wait_for(channel.receive(), IDLE_TIMEOUT)
    except TimeoutError:
        logger.debug("control socket: closed %s, silent for %gs", channel.peer, IDLE_TIMEOUT)
        return None


def _listen_privately(path: Path, own_directory: bool) -> socket.socket:
    """A listening Unix socket at ``path``, mode 0600, in a directory only this user opens.

    fw's own directory (``own_directory``) must belong to this user; it is made mode 0700.
    A directory given in control_socket is created 0700 when missing, else left as it is.
    A socket file that nothing answers on (a server that died) is replaced.
    """
    directory = path.parent
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if own_directory:
            owner = directory.stat().st_uid
            if owner != os.getuid():
                raise ControlSocketError(f"{directory} belongs to uid {owner}, not to this "
                                         "user: set control_socket to a path of your own")
            directory.chmod(0o700)
        _replace_stale(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        umask = os.umask(0o177)  # the file is born 0600: no moment when others may connect
        try:
            sock.bind(str(path))
        except OSError:
            sock.close()
            raise
        finally:
            os.umask(umask)
    except OSError as error:
        raise ControlSocketError(f"cannot open the control socket {path}: "
                                 f"{error.strerror or error}") from None
    path.chmod(0o600)
    sock.listen(64)
    sock.setblocking(False)
    return sock


def _replace_stale(path: Path) -> None:
    """Remove ``path`` if it is a socket nobody answers on; refuse anything else there."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ControlSocketError(f"{path} exists and is not a socket: remove it, or set "
                                 "control_socket to another path")
    if not _answers(path, busy_answers=True):
        path.unlink(missing_ok=True)  # a server that exited without removing it
        return
    raise ControlSocketError(f"another fw server answers on the control socket {path}: stop it "
                             "(fw server:stop), or give this one another port or control_socket")
