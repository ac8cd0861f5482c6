"""OpenAPI 3.1 of an app's HTTP routes, built from the route plans the server binds by.

Parameters, bodies and constraints come from the same plans, and their schemas from
framework.values.schema, so the published document describes exactly what is served.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from typing import Any, Union

from aiohttp import web

from framework.http import routes_of
from framework.http.plan import Param, RoutePlan, plan_route
from framework.values.convert import type_hints
from framework.values.schema import REF_PREFIX, Schema, Schemas, with_constraints

OPENAPI_VERSION = "3.1.0"
_TEMPLATE_REGEX = re.compile(r"\{(\w+):[^}]*\}")  # aiohttp's {name:regex}: OpenAPI has {name}
_NONE = type(None)
_TEXT_WHERE = ("path", "query", "header", "cookie")

#: the body of every error fw answers (framework.http.error_response)
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


def openapi_document(controllers: list[type], title: str, version: str = "1.0.0"
                     ) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route of ``controllers``."""
    schemas = Schemas()
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    for controller in controllers:
        for method, path, func in routes_of(controller):
            plan = plan_route(func, method, path)
            operation = _operation(plan, type_hints(func).get("return", Any), schemas)
            operation["operationId"] = _unique(plan.qualname.replace(".", "_"), operation_ids)
            paths.setdefault(_TEMPLATE_REGEX.sub(r"{\1}", path), {})[method.lower()] = operation
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


def _operation(plan: RoutePlan, returns: Any, schemas: Schemas) -> dict[str, Any]:
    operation: dict[str, Any] = {
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


def _parameter(param: Param, schemas: Schemas) -> dict[str, Any]:
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


def _json_default(value: Any) -> Any:
    """A parameter's default as JSON, or None when it has no plain JSON form."""
    if isinstance(value, enum.Enum):
        value = value.value
    return value if isinstance(value, (str, int, float, bool)) else None


def _success(status: int | None, returns: Any, schemas: Schemas) -> dict[str, Any]:
    """The answers of a handler that returns ``returns``, as framework.http.to_response
    writes them: JSON, text for str, no content for None (204 unless ``status`` says)."""
    options = (typing.get_args(returns)
               if typing.get_origin(returns) in (Union, types.UnionType) else (returns,))
    values = [option for option in options if option is not _NONE]
    responses: dict[str, Any] = {}
    if len(values) < len(options) or not values:
        responses[str(status or 204)] = {"description": "no content"}
    if not values:
        return responses
    answer: dict[str, Any] = {"description": "the handler's answer"}
    returns = values[0] if len(values) == 1 else Union[tuple(values)]  # noqa: UP007
    if returns is str:
        answer["content"] = {"text/plain": {"schema": {"type": "string"}}}
    elif not (isinstance(returns, type) and issubclass(returns, web.StreamResponse)):
        answer["content"] = {"application/json": {"schema": schemas.of(returns)}}
    responses[str(status or 200)] = answer
    return responses

