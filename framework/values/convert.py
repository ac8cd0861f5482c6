"""Typed values from JSON and back: decoded JSON into dataclasses and typed values, every
fault recorded with the field it belongs to; values written as the server answers them.

HTTP bodies and RPC params share it, so a bad value gets the same words wherever it comes
from; text (paths, queries, the environment) is framework.values.text's.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import functools
import json
import types
import typing
import uuid
from collections.abc import Callable, Collection
from typing import Annotated, Any, Literal, TypeVar, Union

import orjson

from framework.values.faults import Faults
from framework.values.fields import (
    NONE,
    TypeForm,
    check_fields,
    expected,
    fields_of,
    members_of,
    type_name,
)
from framework.values.text import TEXT_ERRORS, TEXT_PARSERS

__all__ = ["dump_json", "from_json"]

_PLAIN = frozenset({str, int, float, bool})
_CONTAINERS: dict[TypeForm, Callable[[list[object]], Collection[object]]] = {
    list: list, tuple: tuple, set: set, frozenset: frozenset}
_Found = TypeVar("_Found")
_JsonConverter = Callable[[Any, object, str, Faults], object]


def from_json(tp: TypeForm, value: object, field: str, faults: Faults) -> object:
    """Convert decoded JSON ``value`` into ``tp``; each wrong part is added to ``faults``.

    Strict as JSON is typed: ``"1"`` is not an int. Dataclasses (nested), TypedDicts, lists,
    dicts, Optional and unions, enums and literals are understood; missing fields are named.
    The value is of ``tp`` when no fault was added, which is all a caller may rely on.
    """
    if type(value) is tp and tp in _PLAIN:  # most values: a str, int, float or bool as is
        return value
    return _json_converter(tp)(tp, value, field, faults)


def _per_type(work_out: Callable[[TypeForm], _Found]) -> Callable[[TypeForm], _Found]:
    """``work_out(tp)`` remembered per type; an unhashable annotation is worked out anew."""
    remembered = functools.cache(work_out)

    @functools.wraps(work_out)
    def lookup(tp: TypeForm) -> _Found:
        try:
            return remembered(tp)
        except TypeError:
            return work_out(tp)
    return lookup


@_per_type
def _json_converter(tp: TypeForm) -> _JsonConverter:
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


def _join(field: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{field}[{name}]"
    return f"{field}.{name}" if field else name


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    kinds = {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
             dict: "object"}
    return kinds.get(type(value), type(value).__name__)


def _wrong(tp: TypeForm, value: object, field: str, faults: Faults) -> object:
    """Record that ``value`` is not of ``tp``; the part converts to None."""
    faults.add(field, f"expected {type_name(tp)}, got {_json_kind(value)}")
    return None


def _as_is(tp: TypeForm, value: object, field: str, faults: Faults) -> object:
    return value


def _same_json(choice: object, value: object) -> bool:
    """Whether ``value`` is ``choice`` as JSON Schema's ``enum`` compares: ``1.0`` is ``1``,
    ``true`` is no number."""
    return bool(choice == value) and isinstance(choice, bool) is isinstance(value, bool)


def _literal_from_json(tp: TypeForm, value: object, field: str, faults: Faults) -> object:
    for choice in typing.get_args(tp):
        if _same_json(choice, value):
            return choice
    faults.add(field, f"expected {expected(tp)}, got {value!r}")
    return value


def _annotated_from_json(tp: TypeForm, value: object, field: str, faults: Faults) -> object:
    value_type, constraints = fields_of(tp)
    before = len(faults)
    result = from_json(value_type, value, field, faults)
    if constraints and len(faults) == before and result is not None:
        problem = check_fields(constraints, result)
        if problem is not None:
            faults.add(field, problem)
    return result


def _union_from_json(tp: TypeForm, value: object, field: str, faults: Faults) -> object:
    if value is None and NONE in typing.get_args(tp):
        return None
    options = [option for option in typing.get_args(tp) if option is not NONE]
    if len(options) == 1:
        return from_json(options[0], value, field, faults)
    for option in options:
        attempt = Faults(faults.where)
        result = from_json(option, value, field, attempt)
        if not attempt:
            return result
    return _wrong(tp, value, field, faults)


def _dict_from_json(tp: TypeForm, value: object, field: str, faults: Faults) -> object:
    if not isinstance(value, dict):
        return _wrong(tp, value, field, faults)
    value_type = typing.get_args(tp)[1] if typing.get_args(tp) else object
    return {key: from_json(value_type, item, _join(field, key), faults)
            for key, item in value.items()}


def _sequence_from_json(tp: TypeForm, value: object, field: str, faults: Faults) -> object:
    if not isinstance(value, list):
        return _wrong(tp, value, field, faults)
    container = _CONTAINERS[typing.get_origin(tp) or tp]
    args = typing.get_args(tp)
    if container is tuple and args and args[-1] is not Ellipsis:
        return _fixed_tuple_from_json(args, value, field, faults)
    item_type = args[0] if args else object
    items = [item if type(item) is item_type and item_type in _PLAIN
             else from_json(item_type, item, _join(field, index), faults)
             for index, item in enumerate(value)]
    if container is list:
        return items
    result = container(items)
    if container in (set, frozenset) and len(result) != len(items):  # uniqueItems
        faults.add(field, f"expected unique items ({type_name(tp)}), got {value!r}")
    return result


def _fixed_tuple_from_json(item_types: tuple[TypeForm, ...], value: list[object], field: str,
                           faults: Faults) -> object:
    """``tuple[int, str]``: exactly one item per position, each of its own type."""
    if len(value) != len(item_types):
        faults.add(field, f"expected {len(item_types)} items, got {len(value)}")
        return None
    return tuple(from_json(item_type, item, _join(field, index), faults)
                 for index, (item_type, item) in enumerate(zip(item_types, value, strict=True)))


def _dataclass_from_json(tp: type, value: object, field: str, faults: Faults) -> object:
    if not isinstance(value, dict):
        return _wrong(tp, value, field, faults)
    before = len(faults)
    values = {}
    for name, hint, required in members_of(tp):
        if name in value:
            item = value[name]
            values[name] = item if type(item) is hint and hint in _PLAIN else from_json(
                hint, item, _join(field, name), faults)
        elif required:
            faults.add(_join(field, name), "missing")
    return tp(**values) if len(faults) == before else None


def _typeddict_from_json(tp: type, value: object, field: str, faults: Faults) -> object:
    if not isinstance(value, dict):
        return _wrong(tp, value, field, faults)
    result = {}
    for name, hint, required in members_of(tp):
        if name in value:
            result[name] = from_json(hint, value[name], _join(field, name), faults)
        elif required:
            faults.add(_join(field, name), "missing")
    return result


def _scalar_from_json(tp: TypeForm, value: object, field: str, faults: Faults) -> object:
    if tp is float and (type(value) is int or type(value) is float):
        return float(value)
    if tp is int and type(value) is int or tp is NONE and value is None:
        return value
    if tp is int and type(value) is float and value.is_integer():
        return int(value)  # JSON Schema's integer: a number whose fractional part is zero
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _member_from_json(tp, value, field, faults)
    parse_text = TEXT_PARSERS.get(tp)
    if parse_text is not None and (type(value) is str or tp is decimal.Decimal
                                   and type(value) in (int, float)):
        try:
            return parse_text(value if isinstance(value, str) else str(value))
        except TEXT_ERRORS:
            faults.add(field, f"expected {expected(tp)}, got {value!r}")
            return None
    if isinstance(tp, type) and tp not in (int, float) and isinstance(value, tp):
        return value
    return _wrong(tp, value, field, faults)


def _member_from_json(tp: type[enum.Enum], value: object, field: str,
                      faults: Faults) -> enum.Enum | None:
    """The member of enum ``tp`` whose value is ``value`` as JSON compares them."""
    try:
        member = tp(value)
    except ValueError:
        member = None
    if member is None or not _same_json(member.value, value):
        faults.add(field, f"expected {expected(tp)}, got {value!r}")
        return None
    return member


def dump_json(value: object) -> bytes:
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


def _as_json(value: object) -> object:
    """What orjson writes for the value types it leaves to ``default``."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _as_plain_json(value: object) -> object:
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
