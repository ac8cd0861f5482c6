"""bench/typed_apps.py's POST /orders in Litestar: the body as msgspec Structs."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Litestar, post


class Address(msgspec.Struct):
    street: str
    city: str
    postcode: str


class Order(msgspec.Struct):
    id: UUID
    created: datetime
    customer: str
    quantity: Annotated[int, msgspec.Meta(ge=1, le=100)]
    price: float
    paid: bool
    priority: int
    tags: list[str]
    address: Address
    note: str | None = None


@post("/orders", status_code=201)
async def create(data: Order) -> Order:
    return data


app = Litestar(route_handlers=[create])
