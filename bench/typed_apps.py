"""POST /orders: a 10-field typed body validated and echoed, in fw, FastAPI and Litestar.

The body has a nested object, a datetime, a UUID, a list, an Optional and a range
constraint (1 <= quantity <= 100); each framework declares it its own idiomatic way (fw:
dataclasses, FastAPI: pydantic v2 models, Litestar: msgspec Structs) and answers 201 with
the converted value. This module is fw's (``app``); bench/typed_fastapi.py and
bench/typed_litestar.py declare the same body for the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from uuid import UUID

import orjson

from framework import App, FrameworkModule, Module, http

ORDER_BODY = orjson.dumps({
    "id": "7f1c2b9e-4a55-4c1e-9d7a-3b2f0e6c8a11",
    "created": "2026-11-30T10:15:00+00:00",
    "customer": "Ada Lovelace",
    "quantity": 3,
    "price": 19.5,
    "paid": True,
    "priority": 2,
    "tags": ["gift", "express"],
    "address": {"street": "12 Analytical Row", "city": "London", "postcode": "N1 9GU"},
    "note": None,
})


@dataclass
class Address:
    street: str
    city: str
    postcode: str


@dataclass
class Order:
    id: UUID
    created: datetime
    customer: str
    quantity: Annotated[int, http.Field(ge=1, le=100)]
    price: float
    paid: bool
    priority: int
    tags: list[str]
    address: Address
    note: str | None = None


class OrdersController:
    @http.post("/orders", status=201)
    async def create(self, order: http.Body[Order]) -> Order:
        return order


class OrdersModule(Module):
    name = "orders"
    controllers = [OrdersController]


app = App(imports=[FrameworkModule(access_log=False), OrdersModule()], name="bench-typed")

