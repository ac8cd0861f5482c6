"""bench/typed_apps.py's POST /orders in FastAPI: the body as pydantic v2 models."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import FastAPI
from pydantic import BaseModel, Field


class Address(BaseModel):
    street: str
    city: str
    postcode: str


class Order(BaseModel):
    id: UUID
    created: datetime
    customer: str
    quantity: Annotated[int, Field(ge=1, le=100)]
    price: float
    paid: bool
    priority: int
    tags: list[str]
    address: Address
    note: str | None = None


app = FastAPI()


@app.post("/orders", status_code=201)
async def create(order: Order) -> Order:
    return order
