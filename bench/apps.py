"""The same endpoint in every framework the HTTP benchmarks compare: GET /hello -> JSON.

``app`` is fw's (one injected service; ``app_reuse_port`` the same with reuse_port=True,
``app_metrics_off`` with metrics off);
the others are built lazily, only in the server
process that imports them (``bench.apps:aiohttp_app`` and so on).
"""

from __future__ import annotations

from typing import Any

from framework import App, FrameworkModule, Module, http


class Greeter:
    def greet(self) -> dict:
        return {"hello": "world"}


class HelloController:
    def __init__(self, greeter: Greeter) -> None:
        self.greeter = greeter

    @http.get("/hello")
    async def hello(self) -> dict:
        return self.greeter.greet()


class HelloModule(Module):
    name = "hello"
    providers = [Greeter]
    controllers = [HelloController]


app = App(imports=[FrameworkModule(access_log=False), HelloModule()], name="bench")
# Each worker with its own SO_REUSEPORT socket: the kernel spreads connections evenly.
app_reuse_port = App(imports=[FrameworkModule(access_log=False, reuse_port=True),
                              HelloModule()], name="bench")
# Metrics off (an empty metrics_path): what counting each request costs, against ``app``.
app_metrics_off = App(imports=[FrameworkModule(access_log=False, metrics_path=""),
                               HelloModule()], name="bench")


def __getattr__(name: str) -> Any:
    """The other frameworks' apps, built only in the server that imports this module."""
    builders = {"aiohttp_app": _aiohttp_app, "starlette_app": _starlette_app,
                "sanic_app": _sanic_app}
    if name not in builders:
        raise AttributeError(name)
    return builders[name]()


def _aiohttp_app() -> Any:
    """The idiomatic aiohttp handler: the baseline of both tables of bench/http.py."""
    from aiohttp import web

    greeter = Greeter()

    async def hello(request: web.Request) -> web.Response:
        return web.json_response(greeter.greet())

    baseline = web.Application()
    baseline.router.add_get("/hello", hello)
    return baseline


def _starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    greeter = Greeter()

    async def hello(request: Any) -> JSONResponse:
        return JSONResponse(greeter.greet())

    return Starlette(routes=[Route("/hello", hello)])


def _sanic_app() -> Any:
    from sanic import Sanic
    from sanic.response import json

    try:
        return Sanic.get_app("bench")
    except Exception:  # noqa: BLE001 - sanic raises SanicException when it is not made yet
        sanic_app = Sanic("bench")
    greeter = Greeter()

    @sanic_app.get("/hello")
    async def hello(request: Any) -> Any:
        return json(greeter.greet())

    return sanic_app
