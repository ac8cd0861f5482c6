"""The listening socket: bound once (by the single process or the master) and served by aiohttp.

A port that cannot be had becomes one line naming host:port, which start_server prints
before exiting with code 2, instead of a traceback.
"""

from __future__ import annotations

import errno
import socket

from framework.errors import FrameworkError

BACKLOG = 2048

_REASONS: dict[int | None, str] = {
    errno.EADDRINUSE: "address already in use (is another server running there?)",
    errno.EACCES: "permission denied (ports below 1024 need privileges)",
    errno.EADDRNOTAVAIL: "address not available on this machine",
}


class BindError(FrameworkError, OSError):
    """The server cannot listen on host:port; the message is the one line a user sees."""


def bind_socket(host: str, port: int, reuse_port: bool = False,
                listen: bool = True) -> socket.socket:
    """A non-blocking TCP socket bound to ``host:port``, listening unless ``listen`` is False.

    A master whose workers bind their own SO_REUSEPORT sockets binds without listening: the
    port is checked (and a port 0 chosen) while no connection can land on a socket that
    nobody accepts from.
    """
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as error:
        raise BindError(f"cannot listen on {where}: unknown host ({error.strerror})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        if listen:
            sock.listen(BACKLOG)
    except OSError as error:
        sock.close()
        reason = _REASONS.get(error.errno, error.strerror or str(error))
        raise BindError(f"cannot listen on {where}: {reason}") from None
    sock.setblocking(False)
    return sock


def socket_url(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket, as a user would type it."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
