"""framework.convert: the typed-value conversion HTTP bodies, query strings and RPC params share."""

import enum
from dataclasses import dataclass, field
from typing import Literal

import pytest

from framework.convert import from_json, parse_string, string_parser, type_name


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
    errors: list[tuple[str, str]] = []
    return from_json(tp, value, "", errors), errors


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


def test_json_is_strict_about_types() -> None:
    assert convert(int, True)[1] == [("", "expected int, got boolean")]
    assert convert(int, 1.5)[1] == [("", "expected int, got number")]
    assert convert(float, 2) == (2.0, [])
    assert convert(int | str, None)[1] == [("", "expected int | str, got null")]


def test_strings_of_paths_and_query_strings_become_typed_values() -> None:
    assert parse_string(string_parser(bool), bool, "yes") is True
    assert parse_string(string_parser(int | None), int | None, "42") == 42
    assert parse_string(string_parser(Size), Size, "s") is Size.SMALL
    with pytest.raises(ValueError, match=r"^expected float, got 'abc'$"):
        parse_string(string_parser(float), float, "abc")
    assert string_parser(Line) is None          # not a plain value: bound otherwise


def test_type_names_read_as_written() -> None:
    assert type_name(list[Line]) == "list[Line]"
    assert type_name(dict[str, int]) == "dict[str, int]"
    assert type_name(str | None) == "str | None"
