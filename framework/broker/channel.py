"""Messages between two processes over one end of a duplex ``multiprocessing.Pipe``.

A frame is a 4-byte big-endian length followed by an orjson-encoded object: the same
framing ``multiprocessing.Connection.send_bytes`` uses, so a blocking peer can still use
``recv_bytes``. Frames are read from the event loop (asyncio streams on the pipe's socket),
never with a blocking ``recv``; ``send`` waits for the peer when the pipe is full, which is
the backpressure. Each channel has a frame limit (``max_frame_size``, both ways): a bigger
message raises FrameTooLarge before anything is written. Nothing is pickled.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
from collections.abc import Mapping
from multiprocessing.connection import Connection

import orjson

from framework.errors import FrameworkError

logger = logging.getLogger("framework.broker.channel")

HEADER = struct.Struct("!i")
LONG_HEADER = struct.Struct("!Q")
MAX_FRAME_SIZE = 16 * 1024 * 1024  # a channel's frame limit unless it is given another
_DISCARD_CHUNK = 64 * 1024


class FrameError(FrameworkError, ValueError):
    """A frame that is not an orjson-encoded JSON object."""


class FrameTooLarge(FrameworkError, ValueError):
    """A message bigger than the channel's frame limit: it was not sent."""


def encode_payload(message: Mapping[str, object]) -> bytes:
    """The orjson bytes of ``message``; raises TypeError when it is not JSON-serialisable."""
    try:
        return orjson.dumps(message)
    except orjson.JSONEncodeError as error:
        raise TypeError(f"cannot send {message!r} between processes: {error}") from None


def _frame(payload: bytes, max_size: int) -> bytes:
    """Header and ``payload``; FrameTooLarge when the payload is over ``max_size`` bytes."""
    size = len(payload)
    if size > max_size:
        raise FrameTooLarge(f"a message of {size} bytes is over the frame limit of "
                            f"{max_size} bytes")
    if size > 0x7FFFFFFF:
        return HEADER.pack(-1) + LONG_HEADER.pack(size) + payload
    return HEADER.pack(size) + payload


def decode_frame(payload: bytes) -> dict[str, object]:
    """Decode one frame's payload; raises FrameError for anything but a JSON object (whose
    fields the receiver checks: the other process may send anything)."""
    try:
        message = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise FrameError(f"not JSON: {error}") from None
    if not isinstance(message, dict):
        raise FrameError(f"not a JSON object: {type(message).__name__}")
    return message


class Channel:
    """One process's end of a pipe: ``send`` messages, ``receive`` them until the peer closes.

    ``peer`` names the other side in log lines ("worker 3", "master"). ``max_frame_size``
    bounds the frames written and read; both ends of a pipe must agree on it.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str,
                 max_frame_size: int = MAX_FRAME_SIZE) -> None:
        self._reader = reader
        self._writer = writer
        self.peer = peer
        self.max_frame_size = max_frame_size

    @classmethod
    async def open(cls, conn: Connection | socket.socket, peer: str,
                   max_frame_size: int = MAX_FRAME_SIZE) -> Channel:
        """Take over ``conn``'s file descriptor: ``conn`` itself is closed."""
        sock = socket.socket(fileno=os.dup(conn.fileno()))
        conn.close()
        sock.setblocking(False)
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=2**20)
        return cls(reader, writer, peer, max_frame_size)

    @property
    def is_closing(self) -> bool:
        return self._writer.is_closing()

    @property
    def buffered(self) -> int:
        """Bytes written but not yet taken by the peer's end of the pipe (held in this process)."""
        return self._writer.transport.get_write_buffer_size()

    def write(self, message: Mapping[str, object]) -> None:
        """Queue ``message`` without waiting for the peer; call ``drain`` to apply backpressure."""
        self.write_payload(encode_payload(message))

    def write_payload(self, payload: bytes) -> None:
        """Queue one already-encoded message (FrameTooLarge when over the frame limit)."""
        self._writer.write(_frame(payload, self.max_frame_size))

    async def drain(self) -> None:
        await self._writer.drain()

    async def send(self, message: Mapping[str, object]) -> None:
        """Send ``message``, waiting while the pipe is full."""
        self.write(message)
        await self._writer.drain()

    async def receive(self) -> dict[str, object] | None:
        """The next well-formed message, or None once the peer has closed its end.

        Garbage and oversized frames are logged with the peer's name and dropped.
        """
        while True:
            try:
                size = HEADER.unpack(await self._reader.readexactly(HEADER.size))[0]
                if size == -1:
                    size = LONG_HEADER.unpack(await self._reader.readexactly(LONG_HEADER.size))[0]
                if size < 0 or size > self.max_frame_size:
                    await self._discard(size)
                    logger.warning("dropped a frame of %d bytes from %s: over the limit",
                                   size, self.peer)
                    continue
                payload = await self._reader.readexactly(size)
            except (asyncio.IncompleteReadError, ConnectionError):
                return None
            try:
                return decode_frame(payload)
            except FrameError as error:
                logger.warning("dropped a garbage frame from %s: %s", self.peer, error)

    async def _discard(self, size: int) -> None:
        if size < 0:
            raise ConnectionError(f"unrecoverable frame header from {self.peer}")
        while size > 0:
            chunk = await self._reader.read(min(size, _DISCARD_CHUNK))
            if not chunk:
                raise ConnectionError("pipe closed")
            size -= len(chunk)

    async def close(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except (ConnectionError, OSError):
            pass
