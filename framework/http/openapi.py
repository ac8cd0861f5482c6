"""OpenAPI 3.1 of an app's HTTP routes, built from the route plans the server binds by.

Parameters, bodies and constraints come from the same plans, and their schemas from
framework.values.schema, so the published document describes exactly what is served.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Sequence
from typing import Any, Union

from aiohttp import web

from framework.http.plan import Param, RoutePlan
from framework.values.fields import NONE, TypeForm, type_hints
from framework.values.schema import REF_PREFIX, Schema, Schemas, with_constraints

__all__ = ["ERROR_SCHEMA", "OPENAPI_VERSION", "JsonObject", "openapi_document"]

#: an object of the document: any JSON under string keys
JsonObject = dict[str, Any]

OPENAPI_VERSION = "3.1.0"
_TEMPLATE_REGEX = re.compile(r"\{(\w+):[^}]*\}")  # aiohttp's {name:regex}: OpenAPI has {name}
_TEXT_WHERE = ("path", "query", "header", "cookie")

#: the body of every error fw answers (framework.http.responses.error_response)
ERROR_SCHEMA: Schema = {
    "title": "Error",
    "type": "object",
    "required": ["status", "error", "detail"],
    "properties": {
        "status": {"type": "integer"},
        "error": {"type": "string", "description": "the status's reason phrase"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "with 400: each faulty value",
            "items": {"type": "object", "required": ["in", "field", "error"],
                      "properties": {"in": {"type": "string"}, "field": {"type": "string"},
                                     "error": {"type": "string"}}},
        },
    },
}
_ERRORS = {
    400: "a value is missing or invalid; `errors` names each",
    404: "no such resource",
    413: "the request body is over max_body_size",
    415: "the request body is not JSON (Content-Type application/json or +json)",
}


def openapi_document(plans: Sequence[RoutePlan], title: str, version: str = "1.0.0"
                     ) -> JsonObject:
    """The OpenAPI 3.1 document of the routes ``plans`` describe (the App's route_plans)."""
    schemas = Schemas()
    paths: dict[str, JsonObject] = {}
    operation_ids: set[str] = set()
    for plan in plans:
        operation = _operation(plan, type_hints(plan.function).get("return", object), schemas)
        operation["operationId"] = _unique(plan.qualname.replace(".", "_"), operation_ids)
        template = _TEMPLATE_REGEX.sub(r"{\1}", plan.path)
        paths.setdefault(template, {})[plan.method.lower()] = operation
    components = {**schemas.components, "Error": ERROR_SCHEMA}
    return {"openapi": OPENAPI_VERSION, "info": {"title": title, "version": version},
            "paths": paths, "components": {"schemas": components}}


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``... when a method serves several routes."""
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}_{number}"
    taken.add(candidate)
    return candidate


def _operation(plan: RoutePlan, returns: TypeForm, schemas: Schemas) -> JsonObject:
    operation: JsonObject = {
        "summary": plan.qualname,
        "parameters": [_parameter(param, schemas) for param in plan.params
                       if param.where in _TEXT_WHERE],
    }
    body = plan.body
    if body is not None:
        operation["requestBody"] = {
            "required": body.required,
            "content": {"application/json": {
                "schema": with_constraints(schemas.of(body.type), body.constraints)}}}
    responses = _success(plan.status, returns, schemas)
    failures = [400] if plan.texts or body is not None else []
    if any(param.where == "path" for param in plan.params):
        failures.append(404)
    if body is not None:
        failures += [413, 415]
    for status in failures:
        responses[str(status)] = {"description": _ERRORS[status], "content": {
            "application/json": {"schema": {"$ref": REF_PREFIX + "Error"}}}}
    operation["responses"] = responses
    return operation


#: how a list parameter's items travel: repeated query keys; a header's comma-separated items
_LIST_STYLES = {"query": {"style": "form", "explode": True},
                "header": {"style": "simple", "explode": False}}


def _parameter(param: Param, schemas: Schemas) -> JsonObject:
    """A text parameter as OpenAPI writes it: the schema of what its text is read as
    (``X`` of ``X | None``: a parameter left out takes its default)."""
    schema = with_constraints(schemas.of(param.text_type), param.constraints)
    if not param.required and (default := _json_default(param.default)) is not None:
        schema["default"] = default
    described = {"name": param.key, "in": param.where,
                 "required": param.where == "path" or param.required, "schema": schema}
    if param.item_type is not None:
        described.update(_LIST_STYLES[param.where])
    return described


def _json_default(value: object) -> object:
    """A parameter's default as JSON, or None when it has no plain JSON form."""
    if isinstance(value, enum.Enum):
        value = value.value
    return value if isinstance(value, (str, int, float, bool)) else None


def _success(status: int | None, returns: TypeForm, schemas: Schemas) -> JsonObject:
    """The answers of a handler that returns ``returns``, as framework.http.to_response
    writes them: JSON, text for str, no content for None (204 unless ``status`` says)."""
    options = (typing.get_args(returns)
               if typing.get_origin(returns) in (Union, types.UnionType) else (returns,))
    values = [option for option in options if option is not NONE]
    responses: JsonObject = {}
    if len(values) < len(options) or not values:
        responses[str(status or 204)] = {"description": "no content"}
    if not values:
        return responses
    answer: JsonObject = {"description": "the handler's answer"}
    returns = values[0] if len(values) == 1 else Union[tuple(values)]  # noqa: UP007
    if returns is str:
        answer["content"] = {"text/plain": {"schema": {"type": "string"}}}
    elif not (isinstance(returns, type) and issubclass(returns, web.StreamResponse)):
        answer["content"] = {"application/json": {"schema": schemas.of(returns)}}
    responses[str(status or 200)] = answer
    return responses

