"""Values from text: HTTP path, query, header and cookie values, environment variables and
command-line flags, each read by one rule per type.

``value_parser`` reads a value as the published schemas write it (HTTP); ``string_parser``
adds the shortcuts a person types (config). The text patterns are JSON Schema's too, so a
document never promises a spelling the server refuses.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import inspect
import json
import math
import re
import types
import typing
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, Union

from framework.values.fields import NONE, TypeForm, expected, type_name

__all__ = ["DATETIME_TEXT", "DATE_TEXT", "INT_TEXT", "NUMBER_TEXT", "TEXT_ERRORS",
           "TEXT_PARSERS", "TIME_TEXT", "UUID_TEXT", "Parse", "parse_string", "string_parser",
           "value_parser"]

#: text to value; raises one of TEXT_ERRORS for a text that is no such value
Parse = Callable[[str], object]

#: the text of a value, as JSON Schema (and so the published documents) write it: ASCII
#: digits, no spaces, no ``_``, no NaN or infinity, an exponent of at most 9 digits (a
#: Decimal's limit is 18); a UUID in its 8-4-4-4-12 form; dates and times in RFC 3339's
#: layout, where fw also takes a time without seconds or UTC offset
INT_TEXT = r"[+-]?[0-9]+"
NUMBER_TEXT = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,9})?"
UUID_TEXT = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
DATE_TEXT = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
TIME_TEXT = r"[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?([zZ]|[+-][0-9]{2}:[0-9]{2})?"
DATETIME_TEXT = f"{DATE_TEXT}[Tt ]{TIME_TEXT}"
#: what a parser raises for a text it cannot read (Decimal's InvalidOperation is arithmetic)
TEXT_ERRORS = (ValueError, KeyError, TypeError, ArithmeticError)

_MISSING = inspect.Parameter.empty
_SEQUENCES = (list, tuple, set, frozenset)
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_NONE_TEXTS = frozenset({"", "none", "null"})


def _shaped(pattern: str, convert: Parse) -> Parse:
    """``convert(text)`` for a text that ``pattern`` matches whole; ValueError for any other."""
    matches = re.compile(pattern).fullmatch

    def parse(text: str) -> object:
        if matches(text) is None:
            raise ValueError(text)
        return convert(text)
    return parse


def _finite_float(text: str) -> float:
    """``float(text)``, refusing what overflows to infinity (``1e999``): JSON has no such number."""
    value = float(text)
    if value in (math.inf, -math.inf):
        raise ValueError(text)
    return value


def _datetime(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.upper())  # RFC 3339 allows "t" and "z"


def _time(text: str) -> datetime.time:
    return datetime.time.fromisoformat(text.upper())


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(text)


#: value types written as text, in JSON and in query strings
TEXT_PARSERS: dict[TypeForm, Parse] = {
    datetime.datetime: _shaped(DATETIME_TEXT, _datetime),
    datetime.date: _shaped(DATE_TEXT, datetime.date.fromisoformat),
    datetime.time: _shaped(TIME_TEXT, _time),
    uuid.UUID: _shaped(UUID_TEXT, uuid.UUID),
    decimal.Decimal: _shaped(NUMBER_TEXT, decimal.Decimal),
}
_VALUE_PARSERS: dict[TypeForm, Parse] = {
    bool: _parse_bool, int: _shaped(INT_TEXT, int), float: _shaped(NUMBER_TEXT, _finite_float),
    **TEXT_PARSERS}


def value_parser(tp: TypeForm) -> Parse | None:
    """How the text of one value becomes ``tp``, as the published schemas write it (HTTP
    path, query, header and cookie values); None when ``tp`` is no value type.

    str as sent; int, float and Decimal as JSON numbers; bool true/false (also 1/0, yes/no,
    on/off, any case); UUID, datetime, date and time as ``UUID_TEXT`` and the date patterns
    say; an enum or a Literal by its value, as JSON spells it; a union by its first member
    that reads the text. No text is None: an optional value is one left out.
    """
    if tp is _MISSING or tp is str or tp is Any:
        return str
    parse = _VALUE_PARSERS.get(tp)
    if parse is not None:
        return parse
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {_text_of(member.value): member for member in tp}.__getitem__
    origin = typing.get_origin(tp)
    if origin is Literal:
        return {_text_of(value): value for value in typing.get_args(tp)}.__getitem__
    if origin in (Union, types.UnionType):
        members = [value_parser(member) for member in typing.get_args(tp)]
        readable = [parse for parse in members if parse is not None]
        return _first_that_reads(readable) if len(readable) == len(members) else None
    return None


def _text_of(value: object) -> str:
    """A choice as text: a string as it is, anything else as JSON writes it (``true``, ``1``)."""
    return value if isinstance(value, str) else json.dumps(value)


def string_parser(tp: TypeForm, *, build_others: bool = False) -> Parse | None:
    """How text a person writes (an environment variable, a command-line flag) becomes
    ``tp``; None when ``tp`` is no value type.

    The rules of ``value_parser``, around any surrounding spaces, and a person's shortcuts:
    an enum also by its name in any case, ``X | None`` empty, "none" or "null" for None, a
    list comma-separated or a JSON array. With ``build_others``, any other class is called
    with the text (config fields typed ``Path``).
    """
    if tp is _MISSING or tp is str or tp is Any:
        return str
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_parser(tp)
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return _union_parser(typing.get_args(tp), build_others)
    if origin in _SEQUENCES:
        item = string_parser((typing.get_args(tp) or (str,))[0], build_others=build_others)
        return None if item is None else _sequence_parser(origin, item)
    parse = value_parser(tp)
    if parse is not None:
        return _stripped(parse)
    if build_others and isinstance(tp, type):
        return tp
    return None


def parse_string(parse: Parse, tp: TypeForm, text: str) -> object:
    """``parse(text)``; ValueError "expected <what tp takes>, got '<text>'" when it fails."""
    try:
        return parse(text)
    except TEXT_ERRORS:
        raise ValueError(f"expected {_expected_text(tp)}, got {text!r}") from None


def _expected_text(tp: TypeForm) -> str:
    if tp is bool:
        return "bool (true/false, 1/0, yes/no, on/off)"
    if typing.get_origin(tp) in _SEQUENCES:
        return f"{type_name(tp)} (comma-separated or a JSON array)"
    return expected(tp)


def _stripped(parse: Parse) -> Parse:
    def parse_stripped(text: str) -> object:
        return parse(text.strip())
    return parse_stripped


def _first_that_reads(parsers: Sequence[Parse]) -> Parse:
    """The value of the first of ``parsers`` that reads the text (a union's members in order)."""
    def parse(text: str) -> object:
        for parse_member in parsers:
            try:
                return parse_member(text)
            except TEXT_ERRORS:
                continue
        raise ValueError(text)
    return parse


def _enum_parser(enum_class: type[enum.Enum]) -> Callable[[str], enum.Enum]:
    """A member by its value, or by its name in any case."""
    by_text = {_text_of(member.value): member for member in enum_class}
    for member in enum_class:
        by_text.setdefault(member.name, member)
    by_lowered_name = {member.name.lower(): member for member in enum_class}

    def parse(text: str) -> enum.Enum:
        text = text.strip()
        found = by_text.get(text)
        return by_lowered_name[text.lower()] if found is None else found
    return parse


def _union_parser(members: tuple[TypeForm, ...], build_others: bool) -> Parse | None:
    parsers = []
    for member in members:
        if member is not NONE:
            parse_member = string_parser(member, build_others=build_others)
            if parse_member is None:
                return None
            parsers.append(parse_member)
    parse_value = _first_that_reads(parsers)
    if NONE not in members:
        return parse_value

    def parse(text: str) -> object:
        return None if text.strip().lower() in _NONE_TEXTS else parse_value(text)
    return parse


def _sequence_parser(container: Callable[[Iterable[object]], object],
                     parse_item: Parse) -> Parse:
    def parse(text: str) -> object:
        return container(parse_item(item) for item in _split_list(text))
    return parse


def _split_list(raw: str) -> list[str]:
    text = raw.strip()
    if text.startswith("["):
        items = json.loads(text)
        if not isinstance(items, list):
            raise ValueError(raw)
        return [item if isinstance(item, str) else json.dumps(item) for item in items]
    return [item.strip() for item in text.split(",")] if text else []
