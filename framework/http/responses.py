"""Responses: what a handler's return value becomes, and fw's one JSON shape for errors.

``to_response`` turns a controller's result into an aiohttp response; ``error_response`` is
the body of every error fw answers (status, error, detail and extras), and
``response_for_error`` picks it for an exception: 400 naming each Fault, the HTTP error's
own status, 503 for a service that is down, 500 (logged) for the rest.
"""

from __future__ import annotations

import logging
import traceback
from http import HTTPStatus
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from framework.compat import aiohttp as compat
from framework.errors import ServiceUnavailable
from framework.values.convert import dump_json
from framework.values.faults import InvalidInput

__all__ = ["JsonResponse", "error_response", "response_for_error", "to_response"]

logger = logging.getLogger("framework.http")


class JsonResponse(web.Response):
    """``web.Response(body=body, status=status, content_type="application/json")``, built
    without parsing those arguments again where this aiohttp allows: fw answers most
    requests with one.
    """

    if TYPE_CHECKING:
        def __init__(self, body: bytes, status: int = 200) -> None: ...
    else:
        __init__ = compat.init_json_response


def to_response(result: object, status: int | None = None) -> web.StreamResponse:
    """dict, list, dataclass -> JSON; str -> text; None -> 204; an aiohttp response as is.

    ``status`` (the route's) replaces 200, or 204 for None. Decimals are written as strings,
    exactly; UUIDs, datetimes, dates and times as orjson writes them.
    """
    if isinstance(result, str):
        return web.Response(text=result, status=status or 200)
    if result is None:
        return web.Response(status=status or 204)
    if not isinstance(result, (dict, list)) and isinstance(result, web.StreamResponse):
        return result
    return JsonResponse(dump_json(result), status or 200)


def error_response(status: int, detail: str, **extra: object) -> web.Response:
    """The JSON body of every error fw answers: status, error (reason), detail, extras."""
    body = {"status": status, "error": HTTPStatus(status).phrase, "detail": detail, **extra}
    return JsonResponse(orjson.dumps(body), status)


def response_for_error(request: web.Request, error: Exception, debug: bool,
                       max_body_size: int) -> web.StreamResponse:
    """fw's JSON answer to ``error``; re-raises redirects and errors that already are JSON.

    A 500 is logged with its traceback; the answer shows it only when ``debug`` is on.
    A service that is down (ServiceUnavailable) is a 503 naming it, logged where it failed.
    """
    if isinstance(error, InvalidInput):
        fields = [{"in": fault.where, "field": fault.field, "error": fault.problem}
                  for fault in error.errors]
        return error_response(400, f"invalid request: {error}", errors=fields)
    if isinstance(error, web.HTTPException):
        if error.status < 400 or error.content_type == "application/json":
            raise error
        return _http_error(request, error, max_body_size)
    if isinstance(error, ServiceUnavailable):
        return error_response(503, str(error), **error.to_json())
    logger.error("%s %s failed", request.method, request.path, exc_info=error)
    if debug:
        return error_response(500, f"{type(error).__name__}: {error}",
                              traceback="".join(traceback.format_exception(error)))
    return error_response(500, "the server failed to answer; see its log")


def _http_error(request: web.Request, error: web.HTTPException,
                max_body_size: int) -> web.Response:
    """An aiohttp HTTP error as fw's JSON: 405 names the allowed methods, 413 the limit."""
    headers = {}
    if isinstance(error, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(error.allowed_methods))
        detail = f"{request.method} is not allowed on {request.path}; allowed: {allowed}"
        headers["Allow"] = ",".join(sorted(error.allowed_methods))
    elif isinstance(error, web.HTTPRequestEntityTooLarge):
        detail = f"request body is over the {max_body_size} byte limit"
    else:
        detail = error.text or error.reason
    response = error_response(error.status, detail)
    response.headers.update(headers)
    return response
