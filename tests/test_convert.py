"""framework.convert: the typed-value conversion HTTP bodies, query strings and RPC params share."""

import enum
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from framework import config
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
    assert type_name(int | Literal["auto"]) == "int | 'auto'"
    assert type_name(tuple[int, ...]) == "tuple[int, ...]"


TEXTS: list[tuple[Any, str, object]] = [
    (bool, " On ", True), (bool, "NO", False), (Size, "l", Size.LARGE), (Size, "LARGE", Size.LARGE),
    (Size, "small", Size.SMALL), (int | None, "", None), (int | None, "null", None),
    (int | None, " 7 ", 7), (Literal["web", "shop"], "shop", "shop"),
    (int | Literal["auto"], "auto", "auto"), (list[int], "1, 2", [1, 2]),
    (list[int], "[3, 4]", [3, 4]),
]


@pytest.mark.parametrize(("tp", "text", "value"), TEXTS)
def test_config_and_http_read_text_by_one_set_of_rules(tp: Any, text: str, value: object) -> None:
    assert parse_string(string_parser(tp), tp, text) == value
    assert config.convert(text, tp, "APP_X") == value


@pytest.mark.parametrize(("tp", "text", "message"), [
    (bool, "maybe", "expected bool (true/false, 1/0, yes/no, on/off), got 'maybe'"),
    (Size, "medium", "expected one of ['s', 'l'], got 'medium'"),
    (int | None, "lots", "expected int | None, got 'lots'"),
    (Literal["web", "shop"], "mail", "expected one of ['web', 'shop'], got 'mail'"),
    (int | Literal["auto"], "many", "expected int | 'auto', got 'many'"),
    (list[int], "1,x", "expected list[int] (comma-separated or a JSON array), got '1,x'"),
])
def test_config_and_http_refuse_a_bad_text_in_the_same_words(tp: Any, text: str,
                                                             message: str) -> None:
    with pytest.raises(ValueError) as http_error:
        parse_string(string_parser(tp), tp, text)
    with pytest.raises(config.ConfigError) as config_error:
        config.convert(text, tp, "APP_X")
    assert str(http_error.value) == message
    assert str(config_error.value) == f"APP_X: {message}"
