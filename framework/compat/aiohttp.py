"""Where fw touches aiohttp's internals: each use feature-checked, with a public fallback.

fw answers faster by reaching into a few aiohttp internals: JsonResponse skips re-parsing
``web.Response``'s arguments, the router hands each request its match info directly, the
connection guard reads a connection's idle state, and aiohttp's default ``Server`` header is
renamed once instead of per response. Each use is checked once, at import, against the
aiohttp installed (does the attribute exist, does it behave as the public API?). Where a
check fails, or when the environment says ``FW_AIOHTTP_INTERNALS=0``, fw takes aiohttp's
public API instead, which answers the same bytes, a little slower. ``FAST_PATHS`` says which
path each use takes.
"""

from __future__ import annotations

import abc
import asyncio
import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, cast

from aiohttp import ChainMapProxy, StreamReader, hdrs, web, web_response
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import SERVER_SOFTWARE, RawRequestMessage, StreamWriter
from multidict import CIMultiDict
from yarl import URL

if TYPE_CHECKING:
    from aiohttp.test_utils import BaseTestServer
    from aiohttp.typedefs import StrOrURL

INTERNALS_ALLOWED = os.environ.get("FW_AIOHTTP_INTERNALS") != "0"

JSON = "application/json"

RequestFactory = Callable[[RawRequestMessage, StreamReader, web.RequestHandler,
                           AbstractStreamWriter, "asyncio.Task[None]"], web.BaseRequest]


def _passes(check: Callable[[], bool]) -> bool:
    """Whether a fast path may be taken: internals allowed and ``check()`` true (an error
    in the check, such as a missing attribute, counts as false)."""
    if not INTERNALS_ALLOWED:
        return False
    try:
        return check()
    except Exception:
        return False


# -- JsonResponse: web.Response(body=..., status=..., content_type="application/json") --------

InitJsonResponse = Callable[[web.Response, bytes, int], None]


def _init_json_response_public(response: web.Response, body: bytes, status: int = 200) -> None:
    web.Response.__init__(response, body=body, status=status, content_type=JSON)


def _init_json_response_fast() -> InitJsonResponse:
    """What Response.__init__ leaves for a bytes body, set directly, with the defaults and
    ready-made headers taken from one response built the public way."""
    template = web.Response(body=b"", content_type=JSON)
    headers = CIMultiDict(template.headers)
    zlib_executor_size, zlib_executor = template._zlib_executor_size, template._zlib_executor

    def init_json_response(response: web.Response, body: bytes, status: int = 200) -> None:
        web.StreamResponse.__init__(response, status=status, _real_headers=headers.copy())
        response._body = body
        response._zlib_executor_size = zlib_executor_size
        response._zlib_executor = zlib_executor
    return init_json_response


def _same_state(one: object, other: object) -> bool:
    missing = object()
    names = vars(one).keys() | vars(other).keys()
    return all(getattr(one, name, missing) == getattr(other, name, missing) for name in names)


def _json_response_fast_is_public() -> bool:
    """Whether the fast init leaves a response exactly as the public one does."""
    fast_init = _init_json_response_fast()
    for body, status in ((b'{"a": 1}', 200), (b"[]", 404)):
        fast, public = web.Response.__new__(web.Response), web.Response.__new__(web.Response)
        fast_init(fast, body, status)
        _init_json_response_public(public, body, status)
        if not _same_state(fast, public):
            return False
    return True


JSON_RESPONSE_FAST = _passes(_json_response_fast_is_public)
init_json_response: InitJsonResponse = (
    _init_json_response_fast() if JSON_RESPONSE_FAST else _init_json_response_public)


# -- requests: match info set by fw's router, keep-alive off on demand ------------------------

MATCH_INFO_FAST = _passes(lambda: "_match_info" in web.Request.ATTRS)


def _set_match_info_fast(request: web.Request, info: web.UrlMappingMatchInfo) -> None:
    request._match_info = info


class _RoutedRequest(web.Request):
    """A Request whose match info fw's router sets by a public attribute (the fallback);
    ``match_info``, ``app``, ``config_dict`` and ``clone()`` read it as aiohttp's do."""

    ATTRS = web.Request.ATTRS | frozenset(["routed"])
    routed: web.UrlMappingMatchInfo | None = None

    @property
    def match_info(self) -> web.UrlMappingMatchInfo:
        assert self.routed is not None
        return self.routed

    @property
    def app(self) -> web.Application:
        return self.match_info.current_app

    @property
    def config_dict(self) -> ChainMapProxy:
        apps = self.match_info.apps
        return ChainMapProxy(list(reversed(apps[:apps.index(self.app) + 1])))

    def clone(self, **changes: Any) -> web.Request:
        cloned = super().clone(**changes)
        set_match_info(cloned, self.match_info)
        return cloned


def _set_match_info_public(request: web.Request, info: web.UrlMappingMatchInfo) -> None:
    cast(_RoutedRequest, request).routed = info  # requests are _RoutedRequests then


set_match_info: Callable[[web.Request, web.UrlMappingMatchInfo], None] = (
    _set_match_info_fast if MATCH_INFO_FAST else _set_match_info_public)
_ROUTABLE_REQUEST: type[web.Request] = web.Request if MATCH_INFO_FAST else _RoutedRequest


class _NoKeepAlive:
    """Mixed into a Request: its response says ``Connection: close`` and the connection
    closes after it, whatever the client asked."""

    @property
    def keep_alive(self) -> bool:
        return False


class _ClosingRequest(_NoKeepAlive, web.Request):
    pass


class _ClosingRoutedRequest(_NoKeepAlive, _RoutedRequest):
    pass


_CLOSING_REQUEST: type[web.Request] = _ClosingRequest if MATCH_INFO_FAST else _ClosingRoutedRequest


# -- connections: whether one waits for a request head ----------------------------------------

CONNECTION_STATE_FAST = _passes(
    lambda: {"_waiter", "_request_count"} <= set(web.RequestHandler.__slots__))


class _IdleStateRead(web.RequestHandler):
    """Reads the idle state aiohttp keeps: the waiter for the next request, the count."""

    __slots__ = ()

    @property
    def waiting_for_request(self) -> bool:
        waiter = self._waiter
        return waiter is not None and not waiter.done()

    @property
    def requests_received(self) -> int:
        return self._request_count


class _IdleStateCounted(web.RequestHandler):
    """Counts requests started (by request_factory) and finished (their response sent)."""

    __slots__ = ("_started", "_finished")

    def __init__(self, manager: web.Server, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._started = self._finished = 0

    def request_started(self) -> None:
        self._started += 1

    async def finish_response(self, request: web.BaseRequest, resp: web.StreamResponse,
                              start_time: float | None) -> tuple[web.StreamResponse, bool]:
        try:
            return await super().finish_response(request, resp, start_time)
        finally:
            self._finished += 1

    @property
    def waiting_for_request(self) -> bool:
        return self.transport is not None and self._started == self._finished

    @property
    def requests_received(self) -> int:
        return self._started


# fw's connections derive from RequestHandler: aiohttp's, with ``waiting_for_request`` (for
# the head of its next request, or first) and ``requests_received`` (heads so far)
if TYPE_CHECKING:
    RequestHandler = _IdleStateRead  # the same surface either way
else:
    RequestHandler = _IdleStateRead if CONNECTION_STATE_FAST else _IdleStateCounted


# -- the Server header -------------------------------------------------------------------------

SERVER_NAME_FAST = _passes(
    lambda: isinstance(getattr(web_response, "SERVER_SOFTWARE", None), str)
    and "SERVER_SOFTWARE" in web.StreamResponse._prepare_headers.__code__.co_names)


def request_factory(*, loop: asyncio.AbstractEventLoop, client_max_size: int, keep_alive: bool,
                    server_name: str) -> RequestFactory:
    """How aiohttp makes each request of fw's server: routable by fw's router, without
    keep-alive unless ``keep_alive``, answered with ``Server: server_name`` instead of
    aiohttp's versions (errors and WebSocket handshakes too). On the fast path the name is
    aiohttp's default for the whole process."""
    request_class = _ROUTABLE_REQUEST if keep_alive else _CLOSING_REQUEST
    make = functools.partial(request_class, loop=loop, client_max_size=client_max_size)
    if SERVER_NAME_FAST:
        web_response.SERVER_SOFTWARE = server_name  # type: ignore[attr-defined]  # imported there
        if CONNECTION_STATE_FAST:
            return make

    async def name_server(headers: CIMultiDict[str]) -> None:
        if headers.get(hdrs.SERVER) == SERVER_SOFTWARE:
            headers[hdrs.SERVER] = server_name

    def make_request(message: RawRequestMessage, payload: StreamReader,
                     protocol: web.RequestHandler, writer: AbstractStreamWriter,
                     task: asyncio.Task[None]) -> web.BaseRequest:
        if not SERVER_NAME_FAST:
            writer = StreamWriter(protocol, loop, on_headers_sent=name_server)
        if isinstance(protocol, _IdleStateCounted):
            protocol.request_started()
        return make(message, payload, protocol, writer, task)
    return make_request


# -- Expect: 100-continue refused --------------------------------------------------------------

SKIP_BODY_FAST = _passes(lambda: callable(web.RequestHandler.close)
                         and callable(StreamReader.feed_eof))


async def refuse_body(request: web.BaseRequest, refusal: web.StreamResponse) -> None:
    """Make ``refusal`` (which closes the connection) the last answer on ``request``'s
    connection, without waiting for the body its client was told not to send: aiohttp
    would otherwise read on for its lingering time (10 s) first."""
    if SKIP_BODY_FAST:  # stop reading: the connection closes once refusal is sent
        request.protocol.close()
        request.content.feed_eof()
        return
    await refusal.prepare(request)  # send it now, then close: aiohttp sends it no more
    await refusal.write_eof()
    if request.transport is not None:
        request.transport.close()


# -- aiohttp's TestClient on a server already serving ------------------------------------------

def running_test_server(url: str) -> BaseTestServer:
    """A server for ``aiohttp.test_utils.TestClient``: the one already serving at ``url``."""
    return _running_test_server_class()(url)


@functools.cache
def _running_test_server_class() -> Callable[[str], BaseTestServer]:
    """Defined on first use, so that a server imports no aiohttp.test_utils."""
    from aiohttp.test_utils import BaseTestServer

    class RunningTestServer(BaseTestServer):
        """What TestClient needs of a server, for one already serving at ``url``."""

        def __init__(self, url: str) -> None:
            self.served_url = URL(url)
            super().__init__(scheme=self.served_url.scheme, host=self.served_url.host or "",
                             port=self.served_url.port)

        async def start_server(self, loop: asyncio.AbstractEventLoop | None = None,
                               **kwargs: object) -> None:
            """Already serving."""

        def make_url(self, path: StrOrURL) -> URL:
            url = URL(path)
            assert not url.absolute, f"{path} is absolute: TestClient takes paths"
            return self.served_url.join(url)

        async def close(self) -> None:
            """Whoever started the server stops it."""

    # aiohttp's abstract hooks (making a runner to serve) are never called here
    for name in RunningTestServer.__abstractmethods__:
        setattr(RunningTestServer, name, _serves_elsewhere)
    abc.update_abstractmethods(cast(type, RunningTestServer))  # now concrete
    return RunningTestServer


def _serves_elsewhere(*args: object, **kwargs: object) -> NoReturn:
    raise NotImplementedError("this test server is served elsewhere")


FAST_PATHS = {
    "json_response": JSON_RESPONSE_FAST,
    "match_info": MATCH_INFO_FAST,
    "connection_state": CONNECTION_STATE_FAST,
    "server_name": SERVER_NAME_FAST,
    "skip_body": SKIP_BODY_FAST,
}
