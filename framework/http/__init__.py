"""HTTP controllers: ``@http.get(path)`` and friends on a class's methods, ``http.Body[T]``,
``http.Header()``, ``http.Cookie()`` and ``http.Field(...)`` on their parameters.

This is the front of the package; its parts are declaration (routes), the route plan as
data (plan), request binding (binding), handlers, responses and the JSON body limits (body).
Where each parameter comes from is planned once, when the App is built, so serving a
request inspects no signature.
"""

from __future__ import annotations

from framework.errors import ServiceUnavailable
from framework.http.binding import bind
from framework.http.body import MAX_DEPTH, nested_too_deep, require_json_content_type
from framework.http.handlers import Handler, RouteTable, add_routes, make_handler
from framework.http.plan import Param, RoutePlan, plan_route, plans_of
from framework.http.responses import JsonResponse, error_response, response_for_error, to_response
from framework.http.routes import (
    BODY,
    ROUTES,
    Body,
    Cookie,
    Header,
    RouteFunction,
    delete,
    get,
    patch,
    post,
    put,
    route,
    routes_of,
)
from framework.values.convert import dump_json, from_json
from framework.values.faults import InvalidInput
from framework.values.fields import Field, check_fields

__all__ = [
    "BODY", "MAX_DEPTH", "ROUTES", "Body", "Cookie", "Field", "Handler", "Header", "InvalidInput",
    "JsonResponse", "Param", "RouteFunction", "RoutePlan", "RouteTable", "ServiceUnavailable",
    "add_routes", "bind", "check_fields", "delete", "dump_json", "error_response", "from_json",
    "get", "make_handler", "nested_too_deep", "patch", "plan_route", "plans_of", "post", "put",
    "require_json_content_type", "response_for_error", "route", "routes_of", "to_response",
]
