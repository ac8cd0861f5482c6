"""The published JSON Schemas agree with the server: a value the converter takes fits its
type's schema, a value it refuses does not, and what fw writes back fits too."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import uuid
from typing import Annotated, Any, Literal, NotRequired, TypedDict

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from framework import FrameworkModule, http
from framework.testing import create_testing_app
from framework.values.convert import from_json
from framework.values.faults import Faults
from framework.values.schema import Schemas


class Size(enum.Enum):
    SMALL = "s"
    LARGE = "l"


@dataclasses.dataclass
class Node:
    """Contains itself: a component that refers to itself."""

    name: Annotated[str, http.Field(pattern="[a-z]+")]
    children: list[Node] = dataclasses.field(default_factory=list)


class Extra(TypedDict):
    code: Annotated[int, http.Field(ge=1, lt=10)]
    note: NotRequired[str | None]


@dataclasses.dataclass
class Order:
    id: uuid.UUID
    placed: datetime.datetime
    price: decimal.Decimal
    size: Size
    kind: Literal["new", "repeat"]
    tags: Annotated[list[str], http.Field(min_length=1, max_length=2)]
    extra: Extra
    tree: Node | None = None
    pair: tuple[int, ...] = ()
    counts: dict[str, int] = dataclasses.field(default_factory=dict)


GOOD_ORDER = {"id": "00000000-0000-0000-0000-000000000001", "placed": "2026-01-02T03:04:05Z",
              "price": "12.50", "size": "s", "kind": "new", "tags": ["a"],
              "extra": {"code": 3}, "tree": {"name": "root", "children": [{"name": "leaf"}]},
              "pair": [1, 2], "counts": {"a": 1}}
BAD_ORDERS = {
    "size not a choice": {"size": "m"},
    "kind not a literal": {"kind": "old"},
    "too many tags": {"tags": ["a", "b", "c"]},
    "no tags": {"tags": []},
    "code over its bound": {"extra": {"code": 10}},
    "extra without code": {"extra": {"note": "x"}},
    "pattern on a whole name": {"tree": {"name": "root1"}},
    "pattern in a nested child": {"tree": {"name": "a", "children": [{"name": "B"}]}},
    "uuid a number": {"id": 1},
    "price a list": {"price": [1]},
    "pair of text": {"pair": [1, "x"]},
    "counts of text": {"counts": {"a": "one"}},
}


def validator(tp: Any) -> Any:
    """A validator of ``tp``'s schema, its components reachable as the documents hold them."""
    schemas = Schemas()
    schema = schemas.of(tp)
    document = {"components": {"schemas": schemas.components}}
    registry: Registry[Any] = Registry().with_resource(
        "urn:doc", Resource.from_contents(document, default_specification=DRAFT202012))
    text = json.dumps(schema).replace('"#/components/', '"urn:doc#/components/')
    jsonschema.Draft202012Validator.check_schema(json.loads(text))
    return jsonschema.Draft202012Validator(json.loads(text), registry=registry)


def converts(tp: Any, value: Any) -> bool:
    faults = Faults("body")
    from_json(tp, value, "", faults)
    return not faults


def test_a_body_the_converter_takes_fits_the_schema() -> None:
    assert converts(Order, GOOD_ORDER)
    validator(Order).validate(GOOD_ORDER)


@pytest.mark.parametrize("change", BAD_ORDERS.values(), ids=list(BAD_ORDERS))
def test_a_body_the_converter_refuses_breaks_the_schema(change: dict[str, Any]) -> None:
    bad = {**GOOD_ORDER, **change}
    assert not converts(Order, bad)
    assert not validator(Order).is_valid(bad)


class Echo:
    @http.post("/orders", status=201)
    async def echo(self, order: http.Body[Order]) -> Order:
        return order

    @http.get("/values")
    async def values(self) -> list[Any]:
        return [decimal.Decimal("1E+3"), datetime.time(3, 4, 5), datetime.date(2026, 1, 2)]


async def test_what_fw_writes_back_fits_the_schema() -> None:
    testing = create_testing_app(imports=[FrameworkModule()], controllers=[Echo])
    async with testing:
        response = await testing.client.post("/orders", json=GOOD_ORDER)
        assert response.status == 201
        validator(Order).validate(await response.json())
        response = await testing.client.get("/values")
        written = await response.json()
    for tp, value in zip((decimal.Decimal, datetime.time, datetime.date), written, strict=True):
        validator(tp).validate(value)


def test_two_classes_of_one_name_get_two_components() -> None:
    schemas = Schemas()
    first = schemas.of(Node)
    Other = dataclasses.make_dataclass("Node", [("size", Size)])
    second = schemas.of(Other)
    assert first != second
    assert len(schemas.components) == 2
    assert schemas.of(Node) == first  # each class named once
