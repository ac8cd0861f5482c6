"""Constraints on values (``http.Field``) and the type helpers every reader of a type shares.

``Field`` narrows a value (bounds, lengths, a pattern); ``members_of`` lists what a dataclass
or TypedDict carries; ``type_name`` and ``expected`` put a type in the words every fault uses.
JSON conversion, text parsing and JSON Schema all read types through these, once.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import functools
import operator
import re
import types
import typing
import uuid
from collections.abc import Callable, Sequence, Sized
from typing import Annotated, Any, Literal, NamedTuple, Union

__all__ = ["NONE", "Field", "Member", "TypeForm", "check_fields", "expected", "fields_of",
           "members_of", "type_hints", "type_name"]

#: a type annotation as written: a class, ``list[int]``, ``X | None``, ``Annotated[...]``,
#: ``Literal[...]``; typing has no narrower type for one (PEP 747's TypeForm is to come)
TypeForm = object
NONE = type(None)


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

    def problem(self, value: object) -> str | None:
        """What ``value`` breaks, as "must be <rule>, got <value>"; None when it fits."""
        compared: Any = value  # with a bound as Python compares them, whatever the type
        for rule, bound, breaks in (("ge", self.ge, operator.lt), ("gt", self.gt, operator.le),
                                    ("le", self.le, operator.gt), ("lt", self.lt, operator.ge)):
            if bound is not None and breaks(compared, bound):
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


def fields_of(tp: TypeForm) -> tuple[TypeForm, list[Field]]:
    """``(value type, its Field constraints)`` of a maybe-Annotated type."""
    if typing.get_origin(tp) is not Annotated:
        return tp, []
    args = typing.get_args(tp)
    return args[0], [extra for extra in args[1:] if isinstance(extra, Field)]


def check_fields(fields: Sequence[Field], value: object) -> str | None:
    """The first constraint ``value`` breaks, in words; None when it meets them all."""
    for field in fields:
        problem = field.problem(value)
        if problem is not None:
            return problem
    return None


class Member(NamedTuple):
    """One member of a dataclass or TypedDict: its name, type, and whether it must be given."""

    name: str
    type: TypeForm
    required: bool


@functools.cache
def members_of(tp: type) -> list[Member]:
    """The members a dataclass (its ``__init__`` fields) or a TypedDict carries."""
    hints = type_hints(tp)
    if dataclasses.is_dataclass(tp):
        return [Member(spec.name, hints.get(spec.name, object),
                       spec.default is dataclasses.MISSING
                       and spec.default_factory is dataclasses.MISSING)
                for spec in dataclasses.fields(tp) if spec.init]
    members = []
    for name, hint in hints.items():
        marked = typing.get_origin(hint)  # read here: string annotations hide it from the class
        required = marked is typing.Required or (marked is not typing.NotRequired
                                                 and name in getattr(tp, "__required_keys__", ()))
        if marked in (typing.NotRequired, typing.Required):
            hint = typing.get_args(hint)[0]
        members.append(Member(name, hint, required))
    return members


@functools.cache
def type_hints(obj: Callable[..., object]) -> dict[str, TypeForm]:
    """Resolved type hints of a class or function, extras kept; computed once per object."""
    return typing.get_type_hints(obj, include_extras=True)


def type_name(tp: TypeForm) -> str:
    """``int``, ``list[Item]``, ``str | None``, ``int | 'auto'``: a type as a reader writes it."""
    if tp is NONE:
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


_TEXT_TYPE_NAMES: dict[TypeForm, str] = {
    datetime.datetime: "datetime (ISO 8601)", datetime.date: "date (ISO 8601)",
    datetime.time: "time (ISO 8601)", uuid.UUID: "UUID", decimal.Decimal: "decimal"}


def expected(tp: TypeForm) -> str:
    """What a value of ``tp`` must be, after "expected": its choices, or else its type name."""
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return f"one of {[member.value for member in tp]}"
    options = [arg for arg in typing.get_args(tp) if arg is not NONE]
    if typing.get_origin(tp) in (Union, types.UnionType) and len(options) == 1:
        chosen = expected(options[0])
        return f"{chosen} or None" if chosen.startswith("one of") else type_name(tp)
    if tp in _TEXT_TYPE_NAMES:
        return _TEXT_TYPE_NAMES[tp]
    if typing.get_origin(tp) is Literal:
        return f"one of {list(typing.get_args(tp))}"
    return type_name(tp)
