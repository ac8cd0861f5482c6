"""Request binding: each route's extractor, built once from its plan when routes are added.

``request_binder(plan)`` turns the plan's data into one closure per parameter, with its
source, key, parser and constraints chosen up front, and a reader of the JSON body; binding
a request then runs those closures and looks nothing up per parameter. Every fault of a
request is collected, and all of them are raised at once as InvalidInput.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from framework.http.body import MAX_DEPTH, nested_too_deep, require_json_content_type
from framework.http.plan import REQUIRED, Param, RoutePlan
from framework.values.convert import from_json
from framework.values.faults import Fault, Faults, InvalidInput
from framework.values.fields import Field, check_fields
from framework.values.text import parse_string

__all__ = ["Arguments", "Binder", "bind", "request_binder"]

#: the arguments of one request by parameter name, the injected ones aside
Arguments = dict[str, object]
#: reads the arguments of a request; InvalidInput names each fault
Binder = Callable[[web.Request], Awaitable[Arguments]]
#: binds one parameter of a request into the arguments, or adds its fault
_Extract = Callable[[web.Request, Arguments, list[Fault]], None]
_ReadBody = Callable[[web.Request, Arguments, list[Fault]], Awaitable[None]]
#: every text sent under a key (empty: none), from one source of a request
_Texts = Callable[[web.Request, str], list[str]]
#: the value of a parameter from its texts; ValueError says what is wrong with them
_Convert = Callable[[list[str]], object]


def request_binder(plan: RoutePlan) -> Binder:
    """How the arguments of ``plan``'s route are read from a request."""
    extractors = [*map(_text_extractor, plan.texts), *map(_request_extractor, plan.requests)]
    read_body = None if plan.body is None else _body_reader(plan.body)

    async def bind_request(request: web.Request) -> Arguments:
        arguments: Arguments = {}
        faults: list[Fault] = []
        for extract in extractors:
            extract(request, arguments, faults)
        if read_body is not None:
            await read_body(request, arguments, faults)
        if faults:
            raise InvalidInput(faults)
        return arguments
    return bind_request


async def bind(plan: RoutePlan, request: web.Request) -> Arguments:
    """The arguments of one ``request`` by ``plan``, binding it once (the server builds each
    route's binder when it adds the route)."""
    return await request_binder(plan)(request)


def _request_extractor(name: str) -> _Extract:
    def extract(request: web.Request, arguments: Arguments, faults: list[Fault]) -> None:
        arguments[name] = request
    return extract


def _text_extractor(param: Param) -> _Extract:
    """The extractor of a path, query, header or cookie parameter."""
    name, where, key, default = param.name, param.where, param.key, param.default
    texts_of = _SOURCES[where]
    convert = _list_converter(param) if param.item_type is not None else _value_converter(param)

    def extract(request: web.Request, arguments: Arguments, faults: list[Fault]) -> None:
        texts = texts_of(request, key)
        if not texts:
            if default is REQUIRED:
                faults.append(Fault(where, key, "missing"))
            else:
                arguments[name] = default
            return
        try:
            arguments[name] = convert(texts)
        except ValueError as error:
            faults.append(Fault(where, key, str(error)))
    return extract


def _value_converter(param: Param) -> _Convert:
    """One value from its text; a query that repeats the key is refused (an array, which the
    parameter's schema does not take); of repeated headers, the first line counts."""
    parse, text_type, constraints = param.parse, param.text_type, param.constraints
    assert parse is not None
    only_one = param.where == "query"

    def convert(texts: list[str]) -> object:
        if only_one and len(texts) > 1:
            raise ValueError(f"expected one value, got {len(texts)}: {texts!r}")
        return _checked(parse_string(parse, text_type, texts[0]), constraints)
    return convert


def _list_converter(param: Param) -> _Convert:
    """A list: one item per repeated query key; for a header, each comma-separated element of
    every line (HTTP's list syntax; empty elements do not count)."""
    parse, item_type, constraints = param.parse, param.item_type, param.constraints
    item_constraints = param.item_constraints
    assert parse is not None
    items_of = _header_items if param.where == "header" else _as_sent

    def convert(texts: list[str]) -> object:
        return _checked([_checked(parse_string(parse, item_type, text), item_constraints)
                         for text in items_of(texts)], constraints)
    return convert


def _header_items(lines: list[str]) -> list[str]:
    return [item for line in lines for item in (part.strip() for part in line.split(","))
            if item]


def _as_sent(texts: list[str]) -> list[str]:
    return texts


def _checked(value: object, constraints: tuple[Field, ...]) -> object:
    """``value``, or ValueError naming the first constraint it breaks."""
    if constraints and (problem := check_fields(constraints, value)) is not None:
        raise ValueError(problem)
    return value


def _path_texts(request: web.Request, key: str) -> list[str]:
    text = request.match_info.get(key)
    return [] if text is None else [text]


def _query_texts(request: web.Request, key: str) -> list[str]:
    return request.query.getall(key, [])


def _header_texts(request: web.Request, key: str) -> list[str]:
    return request.headers.getall(key, [])


def _cookie_texts(request: web.Request, key: str) -> list[str]:
    text = request.cookies.get(key)
    return [] if text is None else [text]


_SOURCES: dict[str, _Texts] = {"path": _path_texts, "query": _query_texts,
                               "header": _header_texts, "cookie": _cookie_texts}


def _body_reader(body: Param) -> _ReadBody:
    """The reader of the JSON body, converted into the ``body`` parameter's type."""
    name, tp, default, required, constraints = (body.name, body.type, body.default,
                                                body.required, body.constraints)

    async def read_body(request: web.Request, arguments: Arguments,
                        faults: list[Fault]) -> None:
        require_json_content_type(request)
        raw = await request.read()
        if not raw:
            if required:
                faults.append(Fault("body", "", "missing: send a JSON body"))
            else:
                arguments[name] = default
            return
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            faults.append(Fault("body", "", f"malformed JSON: {error}"))
            return
        if nested_too_deep(raw, data):
            faults.append(Fault("body", "", f"nested deeper than {MAX_DEPTH} levels"))
            return
        found = Faults("body")
        value = from_json(tp, data, "", found)
        if not found and constraints:
            problem = check_fields(constraints, value)
            if problem is not None:
                found.add("", problem)
        faults.extend(found)
        arguments[name] = value
    return read_body
