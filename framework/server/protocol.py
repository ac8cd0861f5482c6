"""fw's HTTP connection: aiohttp's RequestHandler, answering malformed requests in fw's JSON.

aiohttp answers a request it cannot parse with text/plain that echoes the bad bytes and logs
a traceback for each; fw answers a JSON 400 and logs one line, rate-limited. The idle state
the connection guard reads lives here too, with the only aiohttp internals fw relies on.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web, web_response

from framework import http
from framework.ratelimit import RateLimitedLog

SERVER_NAME = "fw"  # the Server header of every response: no Python or aiohttp versions

# aiohttp 3.14 internals read below (pyproject pins aiohttp <3.15): checked once, at import.
_INTERNALS = ("_waiter", "_request_count")
if not set(_INTERNALS) <= set(web.RequestHandler.__slots__):
    raise ImportError(f"this aiohttp's RequestHandler lacks {_INTERNALS}: fw needs aiohttp 3.14")


def name_server_software() -> None:
    """Make aiohttp's default Server header fw's: one name, no versions, on every response
    (errors and WebSocket handshakes included), at no cost per request."""
    web_response.SERVER_SOFTWARE = SERVER_NAME  # type: ignore[attr-defined]  # imported there


class Connection(web.RequestHandler):
    """One client connection: aiohttp's protocol with fw's answer to unparseable requests."""

    __slots__ = ("_rejections",)

    def __init__(self, manager: web.Server, *, rejections: RateLimitedLog, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._rejections = rejections

    @property
    def waiting_for_request(self) -> bool:
        """True while the connection waits for the head of its next request (or first)."""
        waiter = self._waiter
        return waiter is not None and not waiter.done()

    @property
    def requests_received(self) -> int:
        """How many request heads this connection delivered so far."""
        return self._request_count

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
        response = http.error_response(status, detail)
        response.force_close()
        return response


def _describe(error: BaseException | None) -> str:
    """``LineTooLong`` -> "line too long": what went wrong, without echoing the client's bytes."""
    if error is None:
        return "bad request"
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", type(error).__name__).lower()
