"""framework.values: the typed-value conversion that bodies, queries and RPC share."""

import datetime
import decimal
import enum
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
import pytest

from framework import config
from framework.values.convert import dump_json, from_json
from framework.values.faults import Faults
from framework.values.fields import type_name
from framework.values.text import parse_string, value_parser


class Size(enum.Enum):
    SMALL = "s"
    LARGE = "l"


@dataclass
class Line:
    sku: str
    quantity: int = 1


@dataclass
class Order:
    lines: list[Line]
    size: Size
    note: str | None = None
    tags: list[str] = field(default_factory=list)
    channel: Literal["web", "shop"] = "web"


def convert(tp: object, value: object) -> tuple[object, list[tuple[str, str]]]:
    faults = Faults("body")
    return from_json(tp, value, "", faults), [(fault.field, fault.problem) for fault in faults]


def test_json_becomes_nested_dataclasses_lists_enums_and_optionals() -> None:
    order, errors = convert(Order, {"lines": [{"sku": "a"}, {"sku": "b", "quantity": 3}],
                                    "size": "l", "note": None, "channel": "shop"})
    assert errors == []
    assert order == Order([Line("a"), Line("b", 3)], Size.LARGE, None, [], "shop")


def test_every_wrong_field_is_named_by_its_path() -> None:
    order, errors = convert(Order, {"lines": [{"quantity": "2"}, "x"], "size": "m",
                                    "channel": "mail", "tags": [1]})
    assert order is None
    assert errors == [("lines[0].sku", "missing"),
                      ("lines[0].quantity", "expected int, got string"),
                      ("lines[1]", "expected Line, got string"),
                      ("size", "expected one of ['s', 'l'], got 'm'"),
                      ("tags[0]", "expected str, got number"),
                      ("channel", "expected one of ['web', 'shop'], got 'mail'")]


def test_a_fixed_tuple_takes_one_item_of_its_own_type_per_position() -> None:
    assert convert(tuple[int, str], [1, "a"]) == ((1, "a"), [])
    assert convert(tuple[int, str], [1, 2])[1] == [("[1]", "expected str, got number")]
    assert convert(tuple[int, str], [1])[1] == [("", "expected 2 items, got 1")]
    assert convert(tuple[int, ...], [1, 2, 3]) == ((1, 2, 3), [])


def test_json_is_strict_about_types() -> None:
    assert convert(int, True)[1] == [("", "expected int, got boolean")]
    assert convert(int, 1.5)[1] == [("", "expected int, got number")]
    assert convert(float, 2) == (2.0, [])
    assert convert(int | str, None)[1] == [("", "expected int | str, got null")]


def test_json_reads_values_as_json_schema_types_them() -> None:
    """integer: any number whose fractional part is zero; enum: equal, and no boolean for a
    number; a set: unique items; a Decimal string: a number's text."""
    assert convert(int, 90.0) == (90, []) and type(convert(int, 90.0)[0]) is int
    assert convert(list[int], [1e2, -0.0]) == ([100, 0], [])
    assert convert(Literal[1, 2], 2.0) == (2, [])
    assert convert(Literal[1, 2], True)[1] == [("", "expected one of [1, 2], got True")]

    class Level(enum.Enum):
        LOW = 0
        HIGH = 1
    assert convert(Level, 1.0) == (Level.HIGH, [])
    assert convert(Level, False)[1] == [("", "expected one of [0, 1], got False")]
    assert convert(set[int], [1, 2]) == ({1, 2}, [])
    assert convert(set[int], [1, 1])[1] == [("", "expected unique items (set[int]), got [1, 1]")]
    assert convert(decimal.Decimal, "-1.50e3") == (decimal.Decimal("-1.50e3"), [])
    for text in ("NaN", "Infinity", " 1", "1_000", "1e3031128686889039607"):
        assert convert(decimal.Decimal, text)[1] == [("", f"expected decimal, got {text!r}")]


def test_every_value_json_reads_can_be_answered() -> None:
    """orjson writes neither ints over 64 bits nor times with an offset: fw still answers."""
    @dataclass
    class Reading:
        count: int
        at: datetime.time
        id: uuid.UUID
        size: Size
        tags: set[str]
        price: decimal.Decimal

    big = 2**70
    reading = Reading(big, datetime.time(9, 30, tzinfo=datetime.UTC),
                      uuid.UUID(int=1), Size.SMALL, {"a"}, decimal.Decimal("1.10"))
    assert orjson.loads(dump_json(reading)) == {
        "count": big, "at": "09:30:00+00:00", "id": "00000000-0000-0000-0000-000000000001",
        "size": "s", "tags": ["a"], "price": "1.10"}
    assert dump_json({"n": 1, "tags": {"b"}}) == b'{"n":1,"tags":["b"]}'
    with pytest.raises(TypeError, match="Line is not JSON serializable"):
        dump_json({"line": object.__new__(type("Line", (), {})), "big": big})


def test_strings_of_paths_and_query_strings_become_typed_values() -> None:
    assert parse_string(value_parser(bool), bool, "yes") is True
    assert parse_string(value_parser(int | str), int | str, "42") == 42
    assert parse_string(value_parser(Size), Size, "s") is Size.SMALL
    with pytest.raises(ValueError, match=r"^expected float, got 'abc'$"):
        parse_string(value_parser(float), float, "abc")
    assert value_parser(Line) is None           # not a plain value: bound otherwise
    assert value_parser(int | None) is None     # no text is None: HTTP leaves the value out
    assert value_parser(list[int]) is None      # HTTP reads a list item by item


def test_type_names_read_as_written() -> None:
    assert type_name(list[Line]) == "list[Line]"
    assert type_name(dict[str, int]) == "dict[str, int]"
    assert type_name(str | None) == "str | None"
    assert type_name(int | Literal["auto"]) == "int | 'auto'"
    assert type_name(tuple[int, ...]) == "tuple[int, ...]"


VALUES: list[tuple[Any, str, object]] = [
    (bool, "On", True), (bool, "NO", False), (bool, "true", True), (Size, "l", Size.LARGE),
    (int, "-7", -7), (float, "1.5e3", 1500.0), (float, ".5", 0.5),
    (decimal.Decimal, "19.90", decimal.Decimal("19.90")),
    (uuid.UUID, "6F1C2B1E-8A6B-4D7E-9A55-0E5B8C2F1A10",
     uuid.UUID("6f1c2b1e-8a6b-4d7e-9a55-0e5b8c2f1a10")),
    (datetime.date, "2026-01-02", datetime.date(2026, 1, 2)),
    (datetime.datetime, "2026-01-02t03:04:05z",
     datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)),
    (datetime.datetime, "2026-01-02 03:04", datetime.datetime(2026, 1, 2, 3, 4)),
    (datetime.time, "09:30", datetime.time(9, 30)),
    (Literal["web", "shop"], "shop", "shop"), (Literal[1, True], "true", True),
    (int | Literal["auto"], "auto", "auto"),
]


@pytest.mark.parametrize(("tp", "text", "value"), VALUES)
def test_config_and_http_read_a_value_by_one_set_of_rules(tp: Any, text: str,
                                                          value: object) -> None:
    assert parse_string(value_parser(tp), tp, text) == value
    assert config.convert(text, tp, "APP_X") == value


@pytest.mark.parametrize(("tp", "text"), [
    (int, "1_000"), (int, "٣"), (int, "1.0"), (float, "nan"), (float, "inf"), (float, "1e999"),
    (decimal.Decimal, "NaN"), (uuid.UUID, "6f1c2b1e8a6b4d7e9a550e5b8c2f1a10"),
    (uuid.UUID, "{6f1c2b1e-8a6b-4d7e-9a55-0e5b8c2f1a10}"), (datetime.date, "20260102"),
    (datetime.date, "2026-W01-1"), (datetime.datetime, "2026-01-02"), (datetime.time, "0930"),
])
def test_no_value_the_published_schemas_call_invalid_is_read(tp: Any, text: str) -> None:
    """Numbers as JSON writes them, a UUID in its 8-4-4-4-12 form, dates in RFC 3339's layout:
    what JSON Schema's types and formats take, in config as in HTTP."""
    with pytest.raises(ValueError):
        parse_string(value_parser(tp), tp, text)
    with pytest.raises(config.ConfigError):
        config.convert(text, tp, "APP_X")


SHORTCUTS: list[tuple[Any, str, object]] = [
    (bool, " On ", True), (Size, "LARGE", Size.LARGE), (Size, "small", Size.SMALL),
    (int | None, "", None), (int | None, "null", None), (int | None, " 7 ", 7),
    (list[int], "1, 2", [1, 2]), (list[int], "[3, 4]", [3, 4]),
]


@pytest.mark.parametrize(("tp", "text", "value"), SHORTCUTS)
def test_config_takes_a_persons_shortcuts_http_does_not(tp: Any, text: str,
                                                        value: object) -> None:
    """Spaces around a value, an enum's name, "" or "null" for None, comma-separated lists: a
    person's text; an HTTP client sends values as the published document writes them."""
    assert config.convert(text, tp, "APP_X") == value
    parse = value_parser(tp)
    if parse is not None:
        with pytest.raises(ValueError):
            parse_string(parse, tp, text)


@pytest.mark.parametrize(("tp", "text", "message"), [
    (bool, "maybe", "expected bool (true/false, 1/0, yes/no, on/off), got 'maybe'"),
    (Size, "medium", "expected one of ['s', 'l'], got 'medium'"),
    (decimal.Decimal, "lots", "expected decimal, got 'lots'"),
    (Literal["web", "shop"], "mail", "expected one of ['web', 'shop'], got 'mail'"),
    (int | Literal["auto"], "many", "expected int | 'auto', got 'many'"),
])
def test_config_and_http_refuse_a_bad_text_in_the_same_words(tp: Any, text: str,
                                                             message: str) -> None:
    with pytest.raises(ValueError) as http_error:
        parse_string(value_parser(tp), tp, text)
    with pytest.raises(config.ConfigError) as config_error:
        config.convert(text, tp, "APP_X")
    assert str(http_error.value) == message
    assert str(config_error.value) == f"APP_X: {message}"
