"""Typed-value conversion: decoded JSON into dataclasses and typed values, text into typed
values, every fault collected with the field it belongs to.

HTTP binding, RPC params and config share it, so a bad value gets the same words wherever it
comes from: a body, a path or query string, an environment variable or a command-line flag.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import functools
import inspect
import json
import math
import re
import types
import typing
import uuid
from collections.abc import Callable, Sequence, Sized
from typing import Annotated, Any, Literal, TypeVar, Union

import orjson

from framework.errors import FrameworkError

_NONE = type(None)
_MISSING = inspect.Parameter.empty
_SEQUENCES = (list, tuple, set, frozenset)
_PLAIN = frozenset({str, int, float, bool})
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


def _shaped(pattern: str, convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """``convert(text)`` for a text that ``pattern`` matches whole; ValueError for any other."""
    matches = re.compile(pattern).fullmatch

    def parse(text: str) -> Any:
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


_parse_int = _shaped(INT_TEXT, int)
_parse_float = _shaped(NUMBER_TEXT, _finite_float)
#: value types written as text, in JSON and in query strings
_TEXT_TYPES: dict[type, Callable[[str], Any]] = {
    datetime.datetime: _shaped(DATETIME_TEXT, _datetime),
    datetime.date: _shaped(DATE_TEXT, datetime.date.fromisoformat),
    datetime.time: _shaped(TIME_TEXT, _time),
    uuid.UUID: _shaped(UUID_TEXT, uuid.UUID),
    decimal.Decimal: _shaped(NUMBER_TEXT, decimal.Decimal),
}
_TEXT_TYPE_NAMES = {datetime.datetime: "datetime (ISO 8601)", datetime.date: "date (ISO 8601)",
                    datetime.time: "time (ISO 8601)", uuid.UUID: "UUID", decimal.Decimal: "decimal"}


class InvalidInput(FrameworkError):
    """Input that does not fit the declared types; ``errors`` lists (where, field, problem)."""

    def __init__(self, errors: list[tuple[str, str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field or where}: {problem}"
                                   for where, field, problem in errors))


_Found = TypeVar("_Found")


def _per_type(work_out: Callable[[Any], _Found]) -> Callable[[Any], _Found]:
    """``work_out(tp)`` remembered per type; an unhashable annotation is worked out anew."""
    remembered = functools.cache(work_out)

    @functools.wraps(work_out)
    def lookup(tp: Any) -> _Found:
        try:
            return remembered(tp)
        except TypeError:
            return work_out(tp)
    return lookup


@dataclasses.dataclass(frozen=True)
class Field:
    """Constraints on a value: ``Annotated[int, Field(ge=1, le=100)]``; lengths count a
    string's characters or a list's items, ``pattern`` must match a whole string."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None

    def __post_init__(self) -> None:
        if self.pattern is not None:
            re.compile(self.pattern)  # a bad pattern fails where it is declared

    def problem(self, value: Any) -> str | None:
        """What ``value`` breaks, as "must be <rule>, got <value>"; None when it fits."""
        for rule, bound, breaks in (("ge", self.ge, _lt), ("gt", self.gt, _le),
                                    ("le", self.le, _gt), ("lt", self.lt, _ge)):
            if bound is not None and breaks(value, bound):
                return f"must be {_RULE_WORDS[rule]} {bound:g} ({rule}), got {value!r}"
        if isinstance(value, Sized) and (self.min_length is not None
                                         or self.max_length is not None):
            size = len(value)
            if self.min_length is not None and size < self.min_length:
                return f"must be at least {self.min_length} long (min_length), got {value!r}"
            if self.max_length is not None and size > self.max_length:
                return f"must be at most {self.max_length} long (max_length), got {value!r}"
        if (self.pattern is not None and isinstance(value, str)
                and re.fullmatch(self.pattern, value) is None):
            return f"must match {self.pattern!r} (pattern), got {value!r}"
        return None


_RULE_WORDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def _lt(value: Any, bound: float) -> bool:
    return bool(value < bound)


def _le(value: Any, bound: float) -> bool:
    return bool(value <= bound)


def _gt(value: Any, bound: float) -> bool:
    return bool(value > bound)


def _ge(value: Any, bound: float) -> bool:
    return bool(value >= bound)


def fields_of(tp: Any) -> tuple[Any, list[Field]]:
    """``(value type, its Field constraints)`` of a maybe-Annotated type."""
    if typing.get_origin(tp) is not Annotated:
        return tp, []
    args = typing.get_args(tp)
    return args[0], [extra for extra in args[1:] if isinstance(extra, Field)]


def check_fields(fields: Sequence[Field], value: Any) -> str | None:
    """The first constraint ``value`` breaks, in words; None when it meets them all."""
    for field in fields:
        problem = field.problem(value)
        if problem is not None:
            return problem
    return None


def type_name(tp: Any) -> str:
    """``int``, ``list[Item]``, ``str | None``, ``int | 'auto'``: a type as a reader writes it."""
    if tp is _NONE:
        return "None"
    if tp is Ellipsis:
        return "..."
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(arg) for arg in args)
    if origin is Annotated:
        return type_name(args[0])
    if origin is Literal:
        return " | ".join(repr(arg) for arg in args)
    if origin is not None and isinstance(origin, type):
        return f"{origin.__name__}[{', '.join(type_name(arg) for arg in args)}]"
    if not isinstance(tp, type):
        return str(tp).replace("typing.", "")
    return tp.__name__


def expected(tp: Any) -> str:
    """What a value of ``tp`` must be, after "expected": its choices, or else its type name."""
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return f"one of {[member.value for member in tp]}"
    options = [arg for arg in typing.get_args(tp) if arg is not _NONE]
    if typing.get_origin(tp) in (Union, types.UnionType) and len(options) == 1:
        chosen = expected(options[0])
        return f"{chosen} or None" if chosen.startswith("one of") else type_name(tp)
    if tp in _TEXT_TYPE_NAMES:
        return _TEXT_TYPE_NAMES[tp]
    if typing.get_origin(tp) is Literal:
        return f"one of {list(typing.get_args(tp))}"
    return type_name(tp)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    kinds = {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
             dict: "object"}
    return kinds.get(type(value), type(value).__name__)


def _join(field: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{field}[{name}]"
    return f"{field}.{name}" if field else name


def from_json(tp: Any, value: Any, field: str, errors: list[tuple[str, str]]) -> Any:
    """Convert decoded JSON ``value`` into ``tp``; each wrong part appends (field, problem).

    Strict as JSON is typed: ``"1"`` is not an int. Dataclasses (nested), TypedDicts, lists,
    dicts, Optional and unions, enums and literals are understood; missing fields are named.
    """
    if type(value) is tp and tp in _PLAIN:  # most values: a str, int, float or bool as is
        return value
    return _json_converter(tp)(tp, value, field, errors)


_JsonConverter = Callable[[Any, Any, str, list[tuple[str, str]]], Any]


@_per_type
def _json_converter(tp: Any) -> _JsonConverter:
    """How values of ``tp`` are converted, worked out once per type."""
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return _as_is
    if origin is Annotated:
        return _annotated_from_json
    if origin in (Union, types.UnionType):
        return _union_from_json
    if origin is Literal:
        return _literal_from_json
    if origin in (list, set, frozenset, tuple) or tp in (list, tuple, set):
        return _sequence_from_json
    if origin is dict or tp is dict:
        return _dict_from_json
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_from_json
    if typing.is_typeddict(tp):
        return _typeddict_from_json
    return _scalar_from_json


def _as_is(tp: Any, value: Any, field: str, errors: list[tuple[str, str]]) -> Any:
    return value


def _literal_from_json(tp: Any, value: Any, field: str, errors: list[tuple[str, str]]) -> Any:
    for choice in typing.get_args(tp):
        if _same_json(choice, value):
            return choice
    errors.append((field, f"expected {expected(tp)}, got {value!r}"))
    return value


def _same_json(choice: Any, value: Any) -> bool:
    """Whether ``value`` is ``choice`` as JSON Schema's ``enum`` compares: ``1.0`` is ``1``,
    ``true`` is no number."""
    return bool(choice == value) and isinstance(choice, bool) is isinstance(value, bool)


def _dict_from_json(tp: Any, value: Any, field: str, errors: list[tuple[str, str]]) -> Any:
    if not isinstance(value, dict):
        return _wrong(tp, value, field, errors)
    value_type = typing.get_args(tp)[1] if typing.get_args(tp) else Any
    return {key: from_json(value_type, item, _join(field, key), errors)
            for key, item in value.items()}


def _annotated_from_json(tp: Any, value: Any, field: str, errors: list[tuple[str, str]]) -> Any:
    value_type, constraints = fields_of(tp)
    before = len(errors)
    result = from_json(value_type, value, field, errors)
    if constraints and len(errors) == before and result is not None:
        problem = check_fields(constraints, result)
        if problem is not None:
            errors.append((field, problem))
    return result


def _wrong(tp: Any, value: Any, field: str, errors: list[tuple[str, str]]) -> None:
    errors.append((field, f"expected {type_name(tp)}, got {_json_kind(value)}"))


def _union_from_json(tp: Any, value: Any, field: str, errors: list[tuple[str, str]]) -> Any:
    if value is None and _NONE in typing.get_args(tp):
        return None
    options = [option for option in typing.get_args(tp) if option is not _NONE]
    if len(options) == 1:
        return from_json(options[0], value, field, errors)
    for option in options:
        attempt: list[tuple[str, str]] = []
        result = from_json(option, value, field, attempt)
        if not attempt:
            return result
    return _wrong(tp, value, field, errors)


def _sequence_from_json(tp: Any, value: Any, field: str, errors: list[tuple[str, str]]) -> Any:
    if not isinstance(value, list):
        return _wrong(tp, value, field, errors)
    container = typing.get_origin(tp) or tp
    args = typing.get_args(tp)
    if container is tuple and args and args[-1] is not Ellipsis:
        return _fixed_tuple_from_json(tp, args, value, field, errors)
    item_type = args[0] if args else Any
    items = [item if type(item) is item_type and item_type in _PLAIN
             else from_json(item_type, item, _join(field, index), errors)
             for index, item in enumerate(value)]
    if container is list:
        return items
    result = container(items)
    if container in (set, frozenset) and len(result) != len(items):  # uniqueItems
        errors.append((field, f"expected unique items ({type_name(tp)}), got {value!r}"))
    return result


def _fixed_tuple_from_json(tp: Any, item_types: tuple[Any, ...], value: list[Any], field: str,
                           errors: list[tuple[str, str]]) -> Any:
    """``tuple[int, str]``: exactly one item per position, each of its own type."""
    if len(value) != len(item_types):
        errors.append((field, f"expected {len(item_types)} items, got {len(value)}"))
        return None
    return tuple(from_json(item_type, item, _join(field, index), errors)
                 for index, (item_type, item) in enumerate(zip(item_types, value, strict=True)))


def _dataclass_from_json(tp: type, value: Any, field: str, errors: list[tuple[str, str]]) -> Any:
    if not isinstance(value, dict):
        return _wrong(tp, value, field, errors)
    before = len(errors)
    values = {}
    for name, hint, required in _init_fields(tp):
        if name in value:
            item = value[name]
            values[name] = item if type(item) is hint and hint in _PLAIN else from_json(
                hint, item, _join(field, name), errors)
        elif required:
            errors.append((_join(field, name), "missing"))
    return tp(**values) if len(errors) == before else None


@functools.cache
def _init_fields(tp: type) -> list[tuple[str, Any, bool]]:
    """(name, type, required) of each ``__init__`` field of dataclass ``tp``."""
    hints = type_hints(tp)
    return [(spec.name, hints.get(spec.name, Any),
             spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING)
            for spec in dataclasses.fields(tp) if spec.init]


def _typeddict_from_json(tp: Any, value: Any, field: str, errors: list[tuple[str, str]]) -> Any:
    if not isinstance(value, dict):
        return _wrong(tp, value, field, errors)
    result = {}
    for name, hint in type_hints(tp).items():
        marked = typing.get_origin(hint)  # read here: string annotations hide it from the class
        required = marked is typing.Required or (marked is not typing.NotRequired
                                                 and name in tp.__required_keys__)
        if marked in (typing.NotRequired, typing.Required):
            hint = typing.get_args(hint)[0]
        if name in value:
            result[name] = from_json(hint, value[name], _join(field, name), errors)
        elif required:
            errors.append((_join(field, name), "missing"))
    return result


def _scalar_from_json(tp: Any, value: Any, field: str, errors: list[tuple[str, str]]) -> Any:
    if tp is float and type(value) in (int, float):
        return float(value)
    if tp is int and type(value) is int or tp is _NONE and value is None:
        return value
    if tp is int and type(value) is float and value.is_integer():
        return int(value)  # JSON Schema's integer: a number whose fractional part is zero
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            member = tp(value)
        except ValueError:
            member = None
        if member is None or not _same_json(member.value, value):
            errors.append((field, f"expected {expected(tp)}, got {value!r}"))
            return None
        return member
    parse_text = _TEXT_TYPES.get(tp)
    if parse_text is not None and (type(value) is str or tp is decimal.Decimal
                                   and type(value) in (int, float)):
        try:
            return parse_text(value if type(value) is str else str(value))
        except _TEXT_ERRORS:
            errors.append((field, f"expected {expected(tp)}, got {value!r}"))
            return None
    if isinstance(tp, type) and tp not in (int, float) and isinstance(value, tp):
        return value
    return _wrong(tp, value, field, errors)


@functools.cache
def type_hints(obj: Any) -> dict[str, Any]:
    """Resolved type hints of a class or function, extras kept; computed once per object."""
    return typing.get_type_hints(obj, include_extras=True)


# -- text: path and query strings, environment variables, command-line flags ----------------

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_NONE_TEXTS = frozenset({"", "none", "null"})
_TEXT_ERRORS = (ValueError, KeyError, TypeError, ArithmeticError)  # Decimal: InvalidOperation


def value_parser(tp: Any) -> Callable[[str], Any] | None:
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


def _text_of(value: Any) -> str:
    """A choice as text: a string as it is, anything else as JSON writes it (``true``, ``1``)."""
    return value if isinstance(value, str) else json.dumps(value)


def string_parser(tp: Any, *, build_others: bool = False) -> Callable[[str], Any] | None:
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


def parse_string(parse: Callable[[str], Any], tp: Any, text: str) -> Any:
    """``parse(text)``; ValueError "expected <what tp takes>, got '<text>'" when it fails."""
    try:
        return parse(text)
    except _TEXT_ERRORS:
        raise ValueError(f"expected {_expected_text(tp)}, got {text!r}") from None


def _expected_text(tp: Any) -> str:
    if tp is bool:
        return "bool (true/false, 1/0, yes/no, on/off)"
    if typing.get_origin(tp) in _SEQUENCES:
        return f"{type_name(tp)} (comma-separated or a JSON array)"
    return expected(tp)


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(text)


_VALUE_PARSERS: dict[Any, Callable[[str], Any]] = {
    bool: _parse_bool, int: _parse_int, float: _parse_float, **_TEXT_TYPES}


def _stripped(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_stripped(text: str) -> Any:
        return parse(text.strip())
    return parse_stripped


def _first_that_reads(parsers: Sequence[Callable[[str], Any]]) -> Callable[[str], Any]:
    """The value of the first of ``parsers`` that reads the text (a union's members in order)."""
    def parse(text: str) -> Any:
        for parse_member in parsers:
            try:
                return parse_member(text)
            except _TEXT_ERRORS:
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


def _union_parser(members: tuple[Any, ...],
                  build_others: bool) -> Callable[[str], Any] | None:
    parsers = []
    for member in members:
        if member is not _NONE:
            parse_member = string_parser(member, build_others=build_others)
            if parse_member is None:
                return None
            parsers.append(parse_member)
    parse_value = _first_that_reads(parsers)
    if _NONE not in members:
        return parse_value

    def parse(text: str) -> Any:
        return None if text.strip().lower() in _NONE_TEXTS else parse_value(text)
    return parse


def _sequence_parser(container: type, parse_item: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
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


def dump_json(value: Any) -> bytes:
    """``value`` as JSON, the way fw answers HTTP and RPC: orjson, with Decimals written as
    exact strings (what the converter reads back) and sets as arrays; TypeError for anything
    else JSON lacks. What orjson cannot write, an int over 64 bits or a time with a UTC
    offset, is written by the standard library instead, so no value the converter accepts
    makes its answer fail."""
    try:
        return orjson.dumps(value, default=_as_json)
    except orjson.JSONEncodeError:
        return json.dumps(value, default=_as_plain_json, ensure_ascii=False,
                          separators=(",", ":")).encode()


def _as_json(value: Any) -> Any:
    """What orjson writes for the value types it leaves to ``default``."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _as_plain_json(value: Any) -> Any:
    """What orjson writes for the types the standard library's json does not know."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {spec.name: getattr(value, spec.name) for spec in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (datetime.date, datetime.time)):  # datetime is a date
        return value.isoformat()
    return _as_json(value)
