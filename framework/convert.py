"""Typed-value conversion: decoded JSON into dataclasses and typed values, strings into
path and query parameters, every fault collected with the field it belongs to.

HTTP binding and RPC params share it, so both answer a bad value with the same words.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union

_NONE = type(None)
_MISSING = inspect.Parameter.empty


class InvalidInput(Exception):
    """Input that does not fit the declared types; ``errors`` lists (where, field, problem)."""

    def __init__(self, errors: list[tuple[str, str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field or where}: {problem}"
                                   for where, field, problem in errors))


def type_name(tp: Any) -> str:
    """``int``, ``list[Item]``, ``str | None``: a type as a reader writes it."""
    if tp is _NONE:
        return "None"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(arg) for arg in args)
    if origin is Annotated:
        return type_name(args[0])
    if origin is not None and isinstance(origin, type) and origin is not Literal:
        return f"{origin.__name__}[{', '.join(type_name(arg) for arg in args)}]"
    if not isinstance(tp, type):
        return str(tp).replace("typing.", "")
    return tp.__name__


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

    Strict as JSON is typed: ``"1"`` is not an int. Dataclasses (nested), lists, dicts,
    Optional and unions, enums and literals are understood; missing fields are named.
    """
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return value
    if origin is Annotated:
        return from_json(typing.get_args(tp)[0], value, field, errors)
    if origin in (Union, types.UnionType):
        return _union_from_json(tp, value, field, errors)
    if origin is Literal:
        if value not in typing.get_args(tp):
            errors.append((field, f"expected one of {list(typing.get_args(tp))}, "
                                  f"got {value!r}"))
        return value
    if origin in (list, set, frozenset, tuple) or tp in (list, tuple, set):
        return _sequence_from_json(tp, value, field, errors)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            return _wrong(tp, value, field, errors)
        value_type = typing.get_args(tp)[1] if typing.get_args(tp) else Any
        return {key: from_json(value_type, item, _join(field, key), errors)
                for key, item in value.items()}
    if dataclasses.is_dataclass(tp):
        return _dataclass_from_json(tp, value, field, errors)
    return _scalar_from_json(tp, value, field, errors)


def _wrong(tp: Any, value: Any, field: str, errors: list[tuple[str, str]]) -> None:
    errors.append((field, f"expected {type_name(tp)}, got {_json_kind(value)}"))


def _union_from_json(tp: Any, value: Any, field: str, errors: list[tuple[str, str]]) -> Any:
    options = typing.get_args(tp)
    if value is None and _NONE in options:
        return None
    options = [option for option in options if option is not _NONE]
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
    item_type = args[0] if args else Any
    items = [from_json(item_type, item, _join(field, index), errors)
             for index, item in enumerate(value)]
    return items if container is list else container(items)


def _dataclass_from_json(tp: type, value: Any, field: str, errors: list[tuple[str, str]]) -> Any:
    if not isinstance(value, dict):
        return _wrong(tp, value, field, errors)
    hints = type_hints(tp)
    before = len(errors)
    values = {}
    for spec in dataclasses.fields(tp):
        if not spec.init:
            continue
        where = _join(field, spec.name)
        if spec.name in value:
            values[spec.name] = from_json(hints.get(spec.name, Any), value[spec.name], where,
                                          errors)
        elif (spec.default is dataclasses.MISSING
              and spec.default_factory is dataclasses.MISSING):
            errors.append((where, "missing"))
    return tp(**values) if len(errors) == before else None


def _scalar_from_json(tp: Any, value: Any, field: str, errors: list[tuple[str, str]]) -> Any:
    if tp is float and type(value) in (int, float):
        return float(value)
    if tp is int and type(value) is int or tp is _NONE and value is None:
        return value
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            choices = [member.value for member in tp]
            errors.append((field, f"expected one of {choices}, got {value!r}"))
            return None
    if isinstance(tp, type) and tp not in (int, float) and isinstance(value, tp):
        return value
    return _wrong(tp, value, field, errors)


@functools.cache
def type_hints(obj: Any) -> dict[str, Any]:
    """Resolved type hints of a class or function, extras kept; computed once per object."""
    return typing.get_type_hints(obj, include_extras=True)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_bool(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError


def string_parser(tp: Any) -> Callable[[str], Any] | None:
    """How a path or query string becomes ``tp``; None when ``tp`` is no plain value type."""
    if tp is _MISSING or tp is str or tp is Any:
        return str
    if tp is bool:
        return _parse_bool
    if tp in (int, float):
        return tp
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        by_text = {str(member.value): member for member in tp}
        return by_text.__getitem__
    if typing.get_origin(tp) in (Union, types.UnionType):
        options = [arg for arg in typing.get_args(tp) if arg is not _NONE]
        if len(options) == 1:
            return string_parser(options[0])
    return None


def parse_string(parse: Callable[[str], Any], tp: Any, text: str) -> Any:
    try:
        return parse(text)
    except (ValueError, KeyError):
        raise ValueError(f"expected {type_name(tp)}, got {text!r}") from None
