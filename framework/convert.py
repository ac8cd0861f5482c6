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
#: value types written as text (ISO 8601 for dates and times), in JSON and in query strings
_TEXT_TYPES: dict[type, Callable[[str], Any]] = {
    datetime.datetime: datetime.datetime.fromisoformat,
    datetime.date: datetime.date.fromisoformat,
    datetime.time: datetime.time.fromisoformat,
    uuid.UUID: uuid.UUID,
    decimal.Decimal: decimal.Decimal,
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
    if value not in typing.get_args(tp):
        errors.append((field, f"expected {expected(tp)}, got {value!r}"))
    return value


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
    return items if container is list else container(items)


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
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            errors.append((field, f"expected {expected(tp)}, got {value!r}"))
            return None
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


def string_parser(tp: Any, *, build_others: bool = False) -> Callable[[str], Any] | None:
    """How text becomes ``tp``; None when ``tp`` is no value type (HTTP binds it otherwise).

    str, int, float, bool (true/false, 1/0, yes/no, on/off, any case), Decimal, UUID,
    datetime, date and time (ISO 8601), enums (a member's
    value or name), Literal, ``X | None`` (empty, "none" or "null" is None), unions, and
    lists (comma-separated or a JSON array). With ``build_others``, any other class is
    called with the text (config fields typed ``Path`` or ``Decimal``).
    """
    if tp is _MISSING or tp is str or tp is Any:
        return str
    if tp is bool:
        return _parse_bool
    if tp is int or tp is float:
        return tp
    if tp in _TEXT_TYPES:
        return _TEXT_TYPES[tp]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_parser(tp)
    origin = typing.get_origin(tp)
    if origin is Literal:
        return {str(value): value for value in typing.get_args(tp)}.__getitem__
    if origin in (Union, types.UnionType):
        return _union_parser(typing.get_args(tp), build_others)
    if origin in _SEQUENCES:
        item = string_parser((typing.get_args(tp) or (str,))[0], build_others=build_others)
        return None if item is None else _sequence_parser(origin, item)
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
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(text)


def _enum_parser(enum_class: type[enum.Enum]) -> Callable[[str], enum.Enum]:
    by_text = {str(member.value): member for member in enum_class}
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
    optional = _NONE in members

    def parse(text: str) -> Any:
        if optional and text.strip().lower() in _NONE_TEXTS:
            return None
        for parse_member in parsers:
            try:
                return parse_member(text)
            except _TEXT_ERRORS:
                continue
        raise ValueError(text)
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
    exact strings (what the converter reads back); TypeError for anything else JSON lacks."""
    return orjson.dumps(value, default=_decimal_as_text)


def _decimal_as_text(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
