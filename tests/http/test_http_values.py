"""Value types, constraints, headers, cookies, status= and HEAD, on a served testing app."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Literal, NotRequired, TypedDict
from uuid import UUID

import pytest

from framework import FrameworkModule, Module, http
from framework.testing import create_testing_app

EVENT_ID = "6f1c2b1e-8a6b-4d7e-9a55-0e5b8c2f1a10"


class Level(enum.Enum):
    LOW = "low"
    HIGH = "high"


@dataclass
class Window:
    start: datetime
    end: date | None = None


class Meta(TypedDict):
    source: str
    tags: NotRequired[list[str]]


@dataclass
class Event:
    id: UUID
    price: Decimal
    at: datetime
    day: date
    starts: time
    level: Level
    kind: Literal["a", "b"]
    note: str | None
    counts: list[int]
    window: Window
    meta: Meta
    rating: Annotated[int, http.Field(ge=1, le=5)] = 3
    labels: list[Annotated[str, http.Field(max_length=3)]] = field(default_factory=list)


class ValuesController:
    @http.get("/values")
    async def values(self, id: UUID, price: Decimal, at: datetime, day: date, starts: time,
                     level: Level, kind: Literal["a", "b"], maybe: Level | None = None,
                     counts: list[int] = []) -> dict:  # noqa: B006 (never mutated)
        return {"id": id, "price": price, "at": at, "day": day, "starts": starts,
                "level": level.value, "kind": kind, "maybe": maybe and maybe.value,
                "counts": counts}

    @http.post("/events", status=201)
    async def create(self, event: http.Body[Event]) -> Event:
        return event

    @http.get("/page")
    async def page(self, limit: Annotated[int, http.Field(ge=1, le=100)] = 10,
                   name: Annotated[str, http.Field(min_length=2, max_length=5,
                                                   pattern=r"[a-z]+")] = "ab",
                   ratio: Annotated[float, http.Field(gt=0, lt=1)] = 0.5,
                   tags: Annotated[list[Annotated[str, http.Field(max_length=3)]],
                                   http.Field(max_length=2)] = []) -> dict:  # noqa: B006
        return {"limit": limit, "name": name, "ratio": ratio, "tags": tags}

    @http.get("/whoami")
    async def whoami(self, request_id: Annotated[str, http.Header("X-Request-Id")],
                     user_agent: Annotated[str | None, http.Header()] = None,
                     session: Annotated[str, http.Cookie()] = "none",
                     theme: Annotated[Level, http.Cookie("ui-theme")] = Level.LOW) -> dict:
        return {"request_id": request_id, "user_agent": user_agent, "session": session,
                "theme": theme.value}

    @http.get("/events/{id}/{day}")
    async def event_day(self, id: UUID, day: date,
                        tag: Annotated[list[str], http.Header("X-Tag")] = []) -> dict:  # noqa: B006
        return {"id": id, "day": day, "tags": tag}

    @http.get("/optional")
    async def optional(self, tags: list[str] | None = None,
                       sizes: Annotated[list[Annotated[int, http.Field(ge=1)]],
                                        http.Field(max_length=2)] | None = None,
                       since: date | None = None,
                       code: Annotated[str, http.Field(pattern=r"[a-z]+")] | None = None,
                       levels: Annotated[list[Level] | None, http.Header("X-Levels")] = None
                       ) -> dict:
        return {"tags": tags, "sizes": sizes, "since": since, "code": code,
                "levels": levels and [level.value for level in levels]}

    @http.post("/accept", status=202)
    async def accept(self, event: http.Body[Event | None] = None) -> None:
        return None


class ValuesModule(Module):
    name = "values"
    controllers = [ValuesController]


@pytest.fixture
async def client():
    testing = create_testing_app(imports=[FrameworkModule(), ValuesModule()])
    async with testing:
        yield testing.client


def errors_of(body: dict) -> dict[str, str]:
    return {f"{error['in']}:{error['field']}": error["error"] for error in body["errors"]}


async def test_every_value_type_in_a_query(client) -> None:
    response = await client.get("/values", params=[
        ("id", EVENT_ID), ("price", "19.99"), ("at", "2026-01-02T03:04:05+00:00"),
        ("day", "2026-01-02"), ("starts", "09:30"), ("level", "high"), ("kind", "b"),
        ("maybe", "low"), ("counts", "1"), ("counts", "2")])
    assert response.status == 200
    assert await response.json() == {
        "id": EVENT_ID, "price": "19.99", "at": "2026-01-02T03:04:05+00:00",
        "day": "2026-01-02", "starts": "09:30:00", "level": "high", "kind": "b",
        "maybe": "low", "counts": [1, 2]}


async def test_every_value_type_named_in_query_errors(client) -> None:
    response = await client.get("/values", params=[
        ("id", "nope"), ("price", "cheap"), ("at", "yesterday"), ("day", "2026-13-01"),
        ("starts", "noon"), ("level", "mid"), ("kind", "c"), ("maybe", "mid"),
        ("counts", "1"), ("counts", "two")])
    assert response.status == 400
    assert errors_of(await response.json()) == {
        "query:id": "expected UUID, got 'nope'",
        "query:price": "expected decimal, got 'cheap'",
        "query:at": "expected datetime (ISO 8601), got 'yesterday'",
        "query:day": "expected date (ISO 8601), got '2026-13-01'",
        "query:starts": "expected time (ISO 8601), got 'noon'",
        "query:level": "expected one of ['low', 'high'], got 'mid'",
        "query:kind": "expected one of ['a', 'b'], got 'c'",
        "query:maybe": "expected one of ['low', 'high'], got 'mid'",  # None: left out
        "query:counts": "expected int, got 'two'",
    }


async def test_an_optional_list_takes_every_repeated_key_constraints_and_all(client) -> None:
    response = await client.get("/optional?tags=a&tags=b&sizes=1&sizes=2&code=ok",
                                headers=[("X-Levels", "low, high"), ("X-Levels", "low")])
    assert await response.json() == {"tags": ["a", "b"], "sizes": [1, 2], "since": None,
                                     "code": "ok", "levels": ["low", "high", "low"]}
    response = await client.get("/optional")
    assert await response.json() == {"tags": None, "sizes": None, "since": None, "code": None,
                                     "levels": None}
    response = await client.get("/optional?sizes=1&sizes=0")
    assert errors_of(await response.json()) == {"query:sizes": "must be >= 1 (ge), got 0"}
    response = await client.get("/optional?sizes=1&sizes=2&sizes=3")
    assert errors_of(await response.json()) == {
        "query:sizes": "must be at most 2 long (max_length), got [1, 2, 3]"}


async def test_an_empty_value_is_a_bad_value_not_none(client) -> None:
    """An optional parameter is None when it is left out; ``?since=`` is a date that is not."""
    response = await client.get("/optional?since=&code=&sizes=")
    assert response.status == 400
    assert errors_of(await response.json()) == {
        "query:since": "expected date (ISO 8601), got ''",
        "query:code": "must match '[a-z]+' (pattern), got ''",
        "query:sizes": "expected int, got ''"}
    response = await client.get("/optional?since=2026-01-02&tags=")
    assert await response.json() == {"tags": [""], "sizes": None, "since": "2026-01-02",
                                     "code": None, "levels": None}


async def test_a_repeated_key_is_no_value_of_a_one_value_parameter(client) -> None:
    """``?limit=5&limit=6`` is an array, which an int parameter's schema does not take."""
    response = await client.get("/page?limit=5&limit=6")
    assert errors_of(await response.json()) == {
        "query:limit": "expected one value, got 2: ['5', '6']"}


def an_event(**changes: object) -> dict:
    event = {"id": EVENT_ID, "price": 19.99, "at": "2026-01-02T03:04:05Z", "day": "2026-01-02",
             "starts": "09:30:00", "level": "high", "kind": "a", "note": None,
             "counts": [1, 2], "window": {"start": "2026-01-01T00:00:00+01:00"},
             "meta": {"source": "test"}, "rating": 5, "labels": ["x"],
             "unknown": "ignored"}
    event.update(changes)
    return event


async def test_every_value_type_in_a_body_echoed_with_the_route_status(client) -> None:
    response = await client.post("/events", json=an_event(meta={"source": "t", "tags": ["q"]}))
    assert response.status == 201, await response.text()
    assert await response.json() == {
        "id": EVENT_ID, "price": "19.99", "at": "2026-01-02T03:04:05+00:00",
        "day": "2026-01-02", "starts": "09:30:00", "level": "high", "kind": "a", "note": None,
        "counts": [1, 2], "window": {"start": "2026-01-01T00:00:00+01:00", "end": None},
        "meta": {"source": "t", "tags": ["q"]}, "rating": 5, "labels": ["x"]}
    response = await client.post("/events", json=an_event(price="0.10"))
    assert (response.status, (await response.json())["price"]) == (201, "0.10")


async def test_an_int_in_a_body_takes_a_number_whose_fraction_is_zero(client) -> None:
    """As JSON Schema's ``integer`` and FastAPI read it: ``5.0`` is 5, ``4.5`` or ``true`` none."""
    response = await client.post("/events", json=an_event(rating=5.0, counts=[1.0, 2]))
    assert response.status == 201
    answer = await response.json()
    assert (answer["rating"], answer["counts"]) == (5, [1, 2])
    response = await client.post("/events", json=an_event(rating=4.5, counts=[True]))
    assert errors_of(await response.json()) == {"body:rating": "expected int, got number",
                                                "body:counts[0]": "expected int, got boolean"}
    response = await client.post("/events", json=an_event(rating=9.0))
    assert errors_of(await response.json()) == {"body:rating": "must be <= 5 (le), got 9"}


async def test_every_value_type_named_in_body_errors(client) -> None:
    response = await client.post("/events", json=an_event(
        id="nope", price="cheap", at="yesterday", day=3, starts="noon", level="mid", kind="c",
        note=1, counts=["1"], window={"end": "2026-01-01"}, meta={"tags": "q"}, rating=9,
        labels=["long"]))
    assert response.status == 400
    assert errors_of(await response.json()) == {
        "body:id": "expected UUID, got 'nope'",
        "body:price": "expected decimal, got 'cheap'",
        "body:at": "expected datetime (ISO 8601), got 'yesterday'",
        "body:day": "expected date, got number",
        "body:starts": "expected time (ISO 8601), got 'noon'",
        "body:level": "expected one of ['low', 'high'], got 'mid'",
        "body:kind": "expected one of ['a', 'b'], got 'c'",
        "body:note": "expected str, got number",
        "body:counts[0]": "expected int, got string",
        "body:window.start": "missing",
        "body:meta.source": "missing",
        "body:meta.tags": "expected list[str], got string",
        "body:rating": "must be <= 5 (le), got 9",
        "body:labels[0]": "must be at most 3 long (max_length), got 'long'",
    }


@pytest.mark.parametrize(("query", "field", "error"), [
    ("limit=0", "limit", "must be >= 1 (ge), got 0"),
    ("limit=101", "limit", "must be <= 100 (le), got 101"),
    ("name=a", "name", "must be at least 2 long (min_length), got 'a'"),
    ("name=abcdef", "name", "must be at most 5 long (max_length), got 'abcdef'"),
    ("name=AB1", "name", "must match '[a-z]+' (pattern), got 'AB1'"),
    ("ratio=0", "ratio", "must be > 0 (gt), got 0.0"),
    ("ratio=1", "ratio", "must be < 1 (lt), got 1.0"),
    ("tags=abcd", "tags", "must be at most 3 long (max_length), got 'abcd'"),
    ("tags=a&tags=b&tags=c", "tags", "must be at most 2 long (max_length), got ['a', 'b', 'c']"),
])
async def test_constraints_name_the_field_the_rule_and_the_value(client, query: str, field: str,
                                                                 error: str) -> None:
    response = await client.get(f"/page?{query}")
    assert response.status == 400
    assert (await response.json())["errors"] == [{"in": "query", "field": field, "error": error}]


async def test_values_within_constraints_pass(client) -> None:
    response = await client.get("/page?limit=100&name=abcde&ratio=0.25&tags=abc&tags=d")
    assert await response.json() == {"limit": 100, "name": "abcde", "ratio": 0.25,
                                     "tags": ["abc", "d"]}


async def test_headers_and_cookies(client) -> None:
    response = await client.get("/whoami", headers={
        "X-Request-Id": "r-1", "User-Agent": "probe/1", "Cookie": "session=s-9; ui-theme=high"})
    assert await response.json() == {"request_id": "r-1", "user_agent": "probe/1",
                                     "session": "s-9", "theme": "high"}
    response = await client.get("/whoami", skip_auto_headers=["User-Agent"],
                                headers={"Cookie": "ui-theme=dark"})
    assert response.status == 400
    assert errors_of(await response.json()) == {
        "header:X-Request-Id": "missing",
        "cookie:ui-theme": "expected one of ['low', 'high'], got 'dark'"}


async def test_a_status_on_a_route_without_a_value_and_an_optional_body(client) -> None:
    response = await client.post("/accept")
    assert (response.status, await response.read()) == (202, b"")
    response = await client.post("/accept", json=an_event())
    assert (response.status, await response.read()) == (202, b"")
    response = await client.post("/accept", json={"id": 1})
    assert response.status == 400


async def test_every_get_route_answers_head(client) -> None:
    get = await client.get("/page")
    head = await client.head("/page")
    assert (head.status, await head.read()) == (200, b"")
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
    bad = await client.head("/page?limit=0")
    assert bad.status == 400
    response = await client.head("/events")
    assert (response.status, response.headers["Allow"]) == (405, "POST")


async def test_path_values_and_repeated_headers(client) -> None:
    response = await client.get(f"/events/{EVENT_ID}/2026-02-03",
                                headers=[("X-Tag", "a"), ("X-Tag", "b")])
    assert await response.json() == {"id": EVENT_ID, "day": "2026-02-03", "tags": ["a", "b"]}
    response = await client.get(f"/events/{EVENT_ID}/2026-02-03",
                                headers=[("X-Tag", "a,b"), ("X-Tag", " c , ")])  # HTTP's lists
    assert (await response.json())["tags"] == ["a", "b", "c"]
    response = await client.get("/events/nope/2026-02-30")
    assert errors_of(await response.json()) == {
        "path:id": "expected UUID, got 'nope'",
        "path:day": "expected date (ISO 8601), got '2026-02-30'"}
