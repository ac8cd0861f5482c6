"""fw's HTTP connection: aiohttp's RequestHandler, answering malformed requests in fw's JSON.

aiohttp answers a request it cannot parse with text/plain that echoes the bad bytes and logs
a traceback for each; fw answers a JSON 400 and logs one line, rate-limited.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from framework.compat import aiohttp as compat
from framework.http.responses import error_response
from framework.ratelimit import RateLimitedLog

SERVER_NAME = "fw"  # the Server header of every response: no Python or aiohttp versions


class Connection(compat.RequestHandler):
    """One client connection: aiohttp's protocol with fw's answer to unparseable requests,
    and the idle state the connection guard reads (``waiting_for_request``,
    ``requests_received``, from framework.compat.aiohttp). ``closed()`` is called when the
    connection is lost (the acceptor counts the connections open)."""

    __slots__ = ("_rejections", "_on_lost")

    def __init__(self, manager: web.Server, closed: Callable[[], None], *,
                 rejections: RateLimitedLog, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._rejections = rejections
        self._on_lost = closed

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self._on_lost()

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """fw's JSON error for what aiohttp could not parse (400) or answer; closes the
        connection. A malformed request is one rate-limited log line, never a traceback."""
        if status >= 500:
            self.logger.error("answering a request from %s failed", request.remote, exc_info=exc)
            detail = "the server failed to answer; see its log"
        else:
            what = _describe(exc)
            self._rejections.log(logging.INFO, "malformed", "malformed HTTP request from %s: %s",
                                 request.remote, what)
            detail = f"malformed HTTP request: {what}"
        if request.writer.output_size > 0:
            raise ConnectionError("a response was already sent: no room for the error answer")
        response = error_response(status, detail)
        response.force_close()
        return response


def _describe(error: BaseException | None) -> str:
    """``LineTooLong`` -> "line too long": what went wrong, without echoing the client's bytes."""
    if error is None:
        return "bad request"
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", type(error).__name__).lower()
