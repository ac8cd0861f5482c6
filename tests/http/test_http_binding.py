"""HTTP parameter binding, responses and errors, on a served testing app (real sockets)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

import pytest
from aiohttp import web

from framework import FrameworkModule, Module, http
from framework.errors import DeclarationError
from framework.testing import create_testing_app


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Item:
    sku: str
    quantity: int = 1
    size: Literal["S", "M", "L"] = "M"


@dataclass
class Order:
    items: list[Item]
    note: str | None
    priority: int | float = 0
    color: Color = Color.RED


class Stock:
    def available(self, sku: str) -> bool:
        return sku != "gone"


class ShopController:
    @http.get("/paint")
    async def paint(self, color: Color, coats: int | None = None, ratio: float = 1.0) -> dict:
        return {"color": color.value, "coats": coats, "ratio": ratio}

    @http.post("/orders")
    async def order(self, order: http.Body[Order], stock: Stock) -> dict:
        return {"items": len(order.items), "color": order.color.value,
                "priority": order.priority, "note": order.note,
                "available": [stock.available(item.sku) for item in order.items]}

    @http.post("/items")
    def items(self, body: http.Body[list[Item]]) -> list[Item]:
        return body

    @http.get("/a")
    @http.get("/b")
    async def both(self, request: web.Request) -> str:
        return request.path

    @http.get("/gone")
    async def gone(self) -> dict:
        raise web.HTTPGone(text="this shop moved")

    @http.get("/old")
    async def old(self) -> dict:
        raise web.HTTPFound("/paint?color=red")

    @http.get("/broken")
    async def broken(self) -> dict:
        raise KeyError("missing-key")


@web.middleware
async def stamp(request: web.Request, handler):
    if request.path == "/stamp-fails":
        raise RuntimeError("middleware broke")
    response = await handler(request)
    response.headers["X-Stamp"] = "fw"
    return response


class ShopModule(Module):
    name = "shop"
    providers = [Stock]
    controllers = [ShopController]


class StampModule(Module):
    name = "stamp"
    middlewares = [stamp]


@pytest.fixture
async def shop():
    testing = create_testing_app(imports=[FrameworkModule(), ShopModule()])
    async with testing:
        yield testing.client


async def test_enum_optional_and_float_query_parameters(shop) -> None:
    response = await shop.get("/paint?color=blue&coats=2&ratio=0.5")
    assert await response.json() == {"color": "blue", "coats": 2, "ratio": 0.5}
    response = await shop.get("/paint?color=green")
    assert response.status == 400
    assert (await response.json())["errors"] == [
        {"in": "query", "field": "color", "error": "expected one of ['red', 'blue'], got 'green'"}]


async def test_query_values_are_read_as_the_published_document_writes_them(shop) -> None:
    """An enum by its value, a number as JSON writes it, None by leaving the value out: an
    empty value, "null", a name or a padded number is a bad value like any other."""
    response = await shop.get("/paint?color=blue&ratio=2")
    assert await response.json() == {"color": "blue", "coats": None, "ratio": 2.0}
    response = await shop.get("/paint?color=BLUE&coats=&ratio=%202")
    assert (await response.json())["errors"] == [
        {"in": "query", "field": "color", "error": "expected one of ['red', 'blue'], got 'BLUE'"},
        {"in": "query", "field": "coats", "error": "expected int, got ''"},
        {"in": "query", "field": "ratio", "error": "expected float, got ' 2'"}]
    response = await shop.get("/paint?color=red&coats=null")
    assert (await response.json())["errors"] == [
        {"in": "query", "field": "coats", "error": "expected int, got 'null'"}]


async def test_body_with_lists_unions_enums_literals_and_injection(shop) -> None:
    response = await shop.post("/orders", json={
        "items": [{"sku": "a"}, {"sku": "gone", "quantity": 2, "size": "L"}],
        "note": None, "priority": 1.5, "color": "blue"})
    assert await response.json() == {"items": 2, "color": "blue", "priority": 1.5,
                                     "note": None, "available": [True, False]}
    response = await shop.post("/orders", json={
        "items": [{"sku": 1, "size": "XL"}], "priority": "high", "color": "green"})
    assert response.status == 400
    assert {e["field"]: e["error"] for e in (await response.json())["errors"]} == {
        "items[0].sku": "expected str, got number",
        "items[0].size": "expected one of ['S', 'M', 'L'], got 'XL'",
        "note": "missing",
        "priority": "expected int | float, got string",
        "color": "expected one of ['red', 'blue'], got 'green'",
    }


async def test_a_list_body_and_a_sync_handler_returning_dataclasses(shop) -> None:
    response = await shop.post("/items", json=[{"sku": "a", "quantity": 3}])
    assert await response.json() == [{"sku": "a", "quantity": 3, "size": "M"}]
    response = await shop.post("/items", json={"sku": "a"})
    assert (await response.json())["errors"] == [
        {"in": "body", "field": "", "error": "expected list[Item], got object"}]


async def test_stacked_route_decorators_and_the_request_by_type(shop) -> None:
    assert await (await shop.get("/a")).text() == "/a"
    assert await (await shop.get("/b")).text() == "/b"


async def test_http_exceptions_raised_by_handlers(shop) -> None:
    response = await shop.get("/gone")
    assert (response.status, await response.json()) == (
        410, {"status": 410, "error": "Gone", "detail": "this shop moved"})
    response = await shop.get("/old", allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (302, "/paint?color=red")


async def test_debug_shows_the_traceback_in_500s() -> None:
    testing = create_testing_app(imports=[FrameworkModule(debug=True), ShopModule()])
    async with testing:
        body = await (await testing.client.get("/broken")).json()
    assert body["status"] == 500 and body["detail"] == "KeyError: 'missing-key'"
    assert "Traceback" in body["traceback"] and "raise KeyError" in body["traceback"]


async def test_module_middlewares_wrap_every_route_and_their_errors_are_json() -> None:
    testing = create_testing_app(imports=[FrameworkModule(), ShopModule(), StampModule()])
    async with testing:
        response = await testing.client.get("/paint?color=red")
        assert (response.status, response.headers["X-Stamp"]) == (200, "fw")
        response = await testing.client.get("/stamp-fails")
        assert response.status == 500
        assert (await response.json())["error"] == "Internal Server Error"
        response = await testing.client.get("/nowhere")
        assert (response.status, (await response.json())["detail"]) == (
            404, "no route for GET /nowhere")


class BadPath:
    @http.get("/things/{id}")
    async def thing(self) -> dict:
        return {}


class BadPathType:
    @http.get("/things/{item}")
    async def thing(self, item: Item) -> dict:
        return {}


@pytest.mark.parametrize(("controller", "message"), [
    (BadPath, "path '/things/{id}' has {id} but no parameter of that name"),
    (BadPathType, "path parameter 'item' is annotated Item"),
])
def test_route_mistakes_fail_when_the_app_is_built(controller: type, message: str) -> None:
    class Broken(Module):
        name = "broken"
        controllers = [controller]

    with pytest.raises(DeclarationError, match=message.replace("{", r"\{").replace("}", r"\}")):
        create_testing_app(imports=[FrameworkModule(), Broken()])


def test_route_paths_must_start_with_a_slash() -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        http.get("users")
