"""The published API: ``GET openapi_path`` (the OpenAPI document, built once per process) and
``GET /docs``, a Swagger UI page whose script and style come from the swagger-ui-bundle-v2
package through ``/docs/assets/``: the page works offline, with no CDN (and no call to
Swagger's online validator).
"""

from __future__ import annotations

import functools
import html
import json
import mimetypes
from collections.abc import Sequence
from pathlib import Path

import orjson
import swagger_ui_bundle  # type: ignore[import-untyped]  # ships no py.typed
from aiohttp import hdrs, web

from framework.errors import DeclarationError
from framework.http.openapi import openapi_document
from framework.http.plan import RoutePlan
from framework.http.responses import JsonResponse, error_response
from framework.http.router import Router

__all__ = ["ASSETS", "ASSETS_PATH", "DOCS_PATH", "ApiDocs"]

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
#: the files the page loads; nothing else of the package is served
ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png")
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{url: {spec_url}, dom_id: "#swagger-ui", validatorUrl: null}});</script>
</body>
</html>
"""


class ApiDocs:
    """The handlers of the document, the page and its assets for one app."""

    def __init__(self, plans: Sequence[RoutePlan], title: str, openapi_path: str) -> None:
        self.document = orjson.dumps(openapi_document(plans, title))
        self.openapi_path = openapi_path
        self.page = _PAGE.format(title=html.escape(f"{title} - API docs"), assets=ASSETS_PATH,
                                 spec_url=json.dumps(openapi_path)).encode()

    def add_routes(self, router: Router) -> None:
        """GET (and HEAD) of the document, the page and its assets; a path the app routes
        itself keeps the app's handler."""
        for path, handler in ((self.openapi_path, self.serve_document),
                              (DOCS_PATH, self.serve_page),
                              (ASSETS_PATH + "/{name}", self.serve_asset)):
            for method in (hdrs.METH_GET, hdrs.METH_HEAD):
                try:
                    router.add_route(method, path, handler)
                except DeclarationError:
                    continue

    async def serve_document(self, request: web.Request) -> web.StreamResponse:
        return JsonResponse(self.document)

    async def serve_page(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=self.page, content_type="text/html", charset="utf-8")

    async def serve_asset(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in ASSETS:
            return error_response(404, f"no docs asset {name!r}")
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return web.Response(body=_asset(name), content_type=content_type,
                            headers={hdrs.CACHE_CONTROL: "public, max-age=86400"})


@functools.cache
def _asset(name: str) -> bytes:
    """One file of the Swagger UI the package ships, read on first use."""
    return (Path(str(swagger_ui_bundle.swagger_ui_path)) / name).read_bytes()
