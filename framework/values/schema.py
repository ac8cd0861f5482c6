"""JSON Schema (draft 2020-12, as OpenAPI 3.1 and OpenRPC use it) of the types fw converts.

One source for both published documents: the OpenAPI of the HTTP routes and the OpenRPC of
the actions describe a value exactly as the server converts and writes it.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import inspect
import types
import typing
import uuid
from typing import Annotated, Any, Literal, Union

from framework.values.fields import NONE, Field, TypeForm, fields_of, members_of
from framework.values.text import NUMBER_TEXT

__all__ = ["REF_PREFIX", "Schema", "Schemas", "json_schema", "with_constraints"]

#: a JSON Schema: a JSON object, so its values are any JSON
Schema = dict[str, Any]
#: where named schemas live in both documents
REF_PREFIX = "#/components/schemas/"
#: a Decimal is read from a number or a string and written as its string
_DECIMAL_TEXT = f"^{NUMBER_TEXT}$"
_SCALARS: dict[TypeForm, Schema] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    NONE: {"type": "null"},
    datetime.datetime: {"type": "string", "format": "date-time"},
    datetime.date: {"type": "string", "format": "date"},
    datetime.time: {"type": "string", "format": "time"},
    uuid.UUID: {"type": "string", "format": "uuid"},
    decimal.Decimal: {"anyOf": [{"type": "number"},
                                {"type": "string", "pattern": _DECIMAL_TEXT}]},
}
_ANYTHING: tuple[TypeForm, ...] = (Any, object, inspect.Parameter.empty)


class Schemas:
    """Schemas of types, each dataclass and TypedDict named once in ``components``
    (referenced as ``#/components/schemas/<Name>``), so nested and recursive bodies work."""

    def __init__(self) -> None:
        self.components: dict[str, Schema] = {}
        self._names: dict[type, str] = {}

    def of(self, tp: TypeForm) -> Schema:
        """The JSON Schema of values of ``tp``; an unknown class is any value (``{}``)."""
        if tp in _ANYTHING:
            return {}
        if tp in _SCALARS:
            return dict(_SCALARS[tp])
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is Annotated:
            value_type, fields = fields_of(tp)
            return with_constraints(self.of(value_type), fields)
        if origin in (Union, types.UnionType):
            return {"anyOf": [self.of(arg) for arg in args]}
        if origin is Literal:
            return {"enum": list(args)}
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return {"title": tp.__name__, "enum": [member.value for member in tp]}
        if origin in (list, set, frozenset, tuple) or tp in (list, set, frozenset, tuple):
            return self._array(origin or tp, args)
        if origin is dict or tp is dict:
            values = self.of(args[1]) if args else {}
            return {"type": "object", "additionalProperties": values}
        if isinstance(tp, type) and (dataclasses.is_dataclass(tp) or typing.is_typeddict(tp)):
            return {"$ref": REF_PREFIX + self._named(tp)}
        return {}

    def _array(self, container: TypeForm, args: tuple[TypeForm, ...]) -> Schema:
        if container is tuple and args and (len(args) != 2 or args[1] is not Ellipsis):
            items = [self.of(arg) for arg in args]
            return {"type": "array", "prefixItems": items, "minItems": len(items),
                    "maxItems": len(items)}
        schema: Schema = {"type": "array", "items": self.of(args[0]) if args else {}}
        if container in (set, frozenset):
            schema["uniqueItems"] = True
        return schema

    def _named(self, tp: type) -> str:
        """The component name of class ``tp``; its schema is built the first time it is seen."""
        name = self._names.get(tp)
        if name is not None:
            return name
        name = tp.__name__
        if name in self.components:  # two classes of one name: the later one says where
            name = f"{tp.__module__}.{tp.__qualname__}".replace(".", "_")
        self._names[tp] = name
        self.components[name] = {}  # placeholder: a class that contains itself refers to it
        self.components[name] = self._object(tp)
        return name

    def _object(self, tp: type) -> Schema:
        properties: dict[str, Schema] = {}
        required: list[str] = []
        for name, hint, needed in members_of(tp):
            properties[name] = self.of(hint)
            if needed:
                required.append(name)
        schema: Schema = {"title": tp.__name__, "type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema


#: what min_length and max_length count, by JSON type (a string's characters otherwise)
_LENGTH_KEYWORDS = {"array": ("minItems", "maxItems"), "object": ("minProperties", "maxProperties")}


def with_constraints(schema: Schema, fields: typing.Sequence[Field]) -> Schema:
    """``schema`` narrowed by ``http.Field`` constraints: bounds, lengths (items of an array,
    keys of an object) and a pattern that must match the whole string."""
    narrowed = dict(schema)
    counts = _LENGTH_KEYWORDS.get(str(schema.get("type")), ("minLength", "maxLength"))
    for field in fields:
        for keyword, bound in (("minimum", field.ge), ("exclusiveMinimum", field.gt),
                               ("maximum", field.le), ("exclusiveMaximum", field.lt)):
            if bound is not None:
                narrowed[keyword] = bound
        for keyword, length in zip(counts, (field.min_length, field.max_length), strict=True):
            if length is not None:
                narrowed[keyword] = length
        if field.pattern is not None:
            narrowed["pattern"] = f"^(?:{field.pattern})$"
    return narrowed


def json_schema(tp: TypeForm, components: dict[str, Schema] | None = None) -> Schema:
    """The JSON Schema of ``tp`` on its own: named classes go into ``components`` if given."""
    schemas = Schemas()
    schema = schemas.of(tp)
    if components is not None:
        components.update(schemas.components)
    return schema
