"""The limits every JSON request body meets, for HTTP endpoints and for ``/rpc`` alike.

A body that declares a type must declare JSON (``application/json`` or
``application/*+json``, UTF-8): a ``text/plain`` or form body is what any web page may post
cross-site without a CORS preflight, so taking one would let other sites call the app in its
users' names. A body that declares no type is read as JSON, as FastAPI does: some clients
(tinyrpc's HTTP transport) send none. And a body may nest at most MAX_DEPTH levels: orjson
reads 1024 levels but writes only 255, so deeper input could be accepted and then never
answered back.
"""

from __future__ import annotations

import orjson
from aiohttp import hdrs, web

__all__ = ["MAX_DEPTH", "json_content_type_problem", "nested_too_deep",
           "require_json_content_type"]

MAX_DEPTH = 128
_ORJSON_WRITE_DEPTH = 255  # orjson.dumps refuses deeper values ("Recursion limit reached")
_UTF8 = frozenset({"utf-8", "utf8"})


def json_content_type_problem(request: web.Request) -> str | None:
    """Why a request's body may not be read as JSON (a declared type that is not UTF-8 JSON),
    or None: no body, no Content-Type, or a JSON one."""
    declared = request.headers.get(hdrs.CONTENT_TYPE)
    if not request.body_exists or not declared:
        return None
    media_type = request.content_type
    is_json = media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json"))
    charset = request.charset
    if is_json and (charset is None or charset.lower() in _UTF8):
        return None
    return (f"{request.method} {request.path} takes a JSON body: send it with "
            f"Content-Type: application/json (UTF-8); got Content-Type: {declared}")


def require_json_content_type(request: web.Request) -> None:
    """Raise 415, naming the problem, unless the request's body may be read as JSON.

    A request without a body passes: what to say about a missing body is the caller's call.
    """
    problem = json_content_type_problem(request)
    if problem is not None:
        raise web.HTTPUnsupportedMediaType(text=problem)


def nested_too_deep(raw: bytes | str, value: object) -> bool:
    """Whether ``value``, decoded from ``raw``, nests deeper than MAX_DEPTH levels.

    Most bodies open fewer brackets than MAX_DEPTH and are passed on counting them. Others
    are checked by orjson itself, in C: the value fits iff it can still be written inside
    ``_ORJSON_WRITE_DEPTH - MAX_DEPTH`` more levels (the room a response envelope needs).
    Nesting is the only thing that stops orjson writing back what it read.
    """
    if isinstance(raw, str):
        opened = raw.count("[") + raw.count("{")
    else:
        opened = raw.count(b"[") + raw.count(b"{")
    if opened <= MAX_DEPTH:
        return False
    for _ in range(_ORJSON_WRITE_DEPTH - MAX_DEPTH):
        value = [value]
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return True
    return False
