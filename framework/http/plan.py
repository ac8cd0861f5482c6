"""Route plans: where each parameter of a controller method comes from, decided once as data.

A RoutePlan lists every parameter with where it is read (path, query, header, cookie, body,
the request, or the container), its value type, default and constraints. The App checks the
plans when it is built; the server binds requests by them; ``fw debug:routes`` prints them.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import operator
import re
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union

from aiohttp import web

from framework.errors import DeclarationError
from framework.values.convert import (
    Field,
    check_fields,
    fields_of,
    parse_string,
    type_hints,
    type_name,
    value_parser,
)

Where = Literal["path", "query", "header", "cookie", "body", "request", "injected"]
REQUIRED = inspect.Parameter.empty
NONE = type(None)
ROUTES = "__fw_routes__"
_PATH_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_WHERE_WORDS = frozenset({"path", "query", "header", "cookie", "body"})


@dataclasses.dataclass(frozen=True)
class Header:
    """``Annotated[str, http.Header()]``: the header named like the parameter (``_`` as ``-``),
    or ``http.Header("X-Request-Id")``."""

    name: str | None = None


@dataclasses.dataclass(frozen=True)
class Cookie:
    """``Annotated[str, http.Cookie()]``: the cookie of the parameter's name, or the one named."""

    name: str | None = None


class BodyMarker:
    """The mark ``http.Body[T]`` puts on a parameter: the JSON request body, as T."""

    def __repr__(self) -> str:
        return "http.Body"


BODY = BodyMarker()


@dataclasses.dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a route: read from ``where`` under ``key``, converted to ``type``."""

    name: str
    where: Where
    type: Any
    default: Any = REQUIRED
    constraints: tuple[Field, ...] = ()
    key: str = ""
    #: text to value (path, query, header, cookie); a list's item parser for repeated keys
    parse: Callable[[str], Any] | None = dataclasses.field(default=None, compare=False,
                                                           repr=False)
    #: a list's item type and its constraints: each repeated key is one item
    item_type: Any = None
    item_constraints: tuple[Field, ...] = ()
    #: what a text is read as: ``X`` of ``X | None``, since no text is None (the parameter
    #: left out takes its default); the published schema is this type's
    text_type: Any = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def describe(self) -> str:
        """``limit: int = 10 (query, ge=1)``: the parameter as ``fw debug:routes`` shows it."""
        default = "" if self.required else f" = {self.default!r}"
        where = self.where if self.key in ("", self.name) else f"{self.where} {self.key}"
        rules = [*_rules("", self.constraints), *_rules("item ", self.item_constraints)]
        return f"{self.name}: {type_name(self.type)}{default} ({', '.join([where, *rules])})"


def _rules(prefix: str, constraints: tuple[Field, ...]) -> list[str]:
    return [f"{prefix}{name}={value!r}" for field in constraints
            for name, value in dataclasses.asdict(field).items() if value is not None]


@dataclasses.dataclass(frozen=True)
class RoutePlan:
    """Everything serving one route needs to know about its method, decided at build."""

    qualname: str
    method: str
    path: str
    status: int | None
    params: tuple[Param, ...]

    @functools.cached_property
    def texts(self) -> tuple[Param, ...]:
        """The parameters read from text: path, query, header and cookie values."""
        return tuple(p for p in self.params if p.parse is not None)

    @functools.cached_property
    def body(self) -> Param | None:
        return next((p for p in self.params if p.where == "body"), None)

    @functools.cached_property
    def injected(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.where == "injected")

    @functools.cached_property
    def requests(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.where == "request")

    def unbindable(self, provides: Callable[[Any], bool]) -> str | None:
        """The line saying which injected parameter no provider declares; None if all are."""
        for param in self.injected:
            if not provides(param.type):
                name = type_name(param.type)
                hint = (f"; did you mean http.Body[{name}]?"
                        if isinstance(param.type, type) and (dataclasses.is_dataclass(param.type)
                                                             or typing.is_typeddict(param.type))
                        else f"; declare a provider for {name}")
                return (f"{self.qualname}({param.name}: {name}): {name} is not a path, query, "
                        f"header or cookie type and no provider declares it{hint}")
        return None

    def bind_texts(self, request: web.Request, errors: list[tuple[str, str, str]]
                   ) -> dict[str, Any]:
        """The text-borne arguments of ``request``; each fault appended to ``errors``."""
        kwargs: dict[str, Any] = {}
        for param in self.texts:
            source = _sources[param.where](request)
            if param.key not in source:
                if param.default is REQUIRED:
                    errors.append((param.where, param.key, "missing"))
                else:
                    kwargs[param.name] = param.default
                continue
            parse = param.parse
            assert parse is not None
            try:
                if param.item_type is None:
                    value = parse_string(parse, param.text_type, _one_text(param, source))
                    if param.constraints:
                        value = _checked(value, param.constraints)
                else:
                    value = _checked([_checked(parse_string(parse, param.item_type, text),
                                               param.item_constraints)
                                      for text in _items(param, source)], param.constraints)
            except ValueError as error:
                errors.append((param.where, param.key, str(error)))
                continue
            kwargs[param.name] = value
        for name in self.requests:
            kwargs[name] = request
        return kwargs


def _one_text(param: Param, source: Any) -> str:
    """The text of a one-value parameter; ValueError when a query repeats its key (an array,
    which its schema does not take)."""
    if param.where != "query":
        return str(source[param.key])
    texts: list[str] = source.getall(param.key)
    if len(texts) > 1:
        raise ValueError(f"expected one value, got {len(texts)}: {texts!r}")
    return texts[0]


def _items(param: Param, source: Any) -> list[str]:
    """The texts of a list parameter's items: one per repeated query key; for a header, each
    comma-separated element of every line (HTTP's list syntax; empty elements do not count)."""
    texts: list[str] = source.getall(param.key)
    if param.where != "header":
        return texts
    return [item for text in texts for item in (part.strip() for part in text.split(","))
            if item]


def _checked(value: Any, constraints: tuple[Field, ...]) -> Any:
    """``value``, or ValueError naming the first constraint it breaks."""
    if constraints and (problem := check_fields(constraints, value)) is not None:
        raise ValueError(problem)
    return value


_sources: dict[str, Callable[[web.Request], Any]] = {
    "path": operator.attrgetter("match_info"),
    "query": operator.attrgetter("query"),
    "header": operator.attrgetter("headers"),
    "cookie": operator.attrgetter("cookies"),
}


def route_status(func: Callable[..., Any], method: str, path: str) -> int | None:
    """The ``status=`` the route decorator gave ``method path`` of ``func``."""
    return next((status for m, p, status in getattr(func, ROUTES, ())
                 if (m, p) == (method, path)), None)


@functools.cache
def plan_route(func: Callable[..., Any], method: str, path: str) -> RoutePlan:
    """The plan of ``func`` served at ``method path``; DeclarationError names what cannot be
    bound (the container's part is checked by ``RoutePlan.unbindable``)."""
    hints = type_hints(func)
    path_names = set(_PATH_PARAM.findall(path))
    parameters = list(inspect.signature(func).parameters.values())[1:]
    missing = path_names - {p.name for p in parameters}
    if missing:
        raise DeclarationError(f"{func.__qualname__}: path {path!r} has "
                               f"{{{sorted(missing)[0]}}} but no parameter of that name")
    params = tuple(_plan_param(func.__qualname__, p, hints.get(p.name, REQUIRED), path_names)
                   for p in parameters)
    return RoutePlan(func.__qualname__, method, path, route_status(func, method, path), params)


def _plan_param(qualname: str, param: inspect.Parameter, tp: Any,
                path_names: set[str]) -> Param:
    name, default = param.name, param.default
    value_type, constraints = fields_of(tp)
    marks = typing.get_args(tp)[1:] if typing.get_origin(tp) is Annotated else ()
    if BODY in marks:
        return Param(name, "body", value_type, default, tuple(constraints))
    header = next((m for m in marks if isinstance(m, Header)), None)
    cookie = next((m for m in marks if isinstance(m, Cookie)), None)
    if header is not None:
        key = header.name or name.replace("_", "-")
        return _text_param(qualname, name, "header", key, value_type, default, constraints)
    if cookie is not None:
        return _text_param(qualname, name, "cookie", cookie.name or name, value_type, default,
                           constraints)
    if name in path_names:
        return _text_param(qualname, name, "path", name, value_type, default, constraints)
    if isinstance(value_type, type) and issubclass(value_type, web.BaseRequest):
        return Param(name, "request", value_type)
    word = next((m for m in marks if isinstance(m, str) and m.lower() in _WHERE_WORDS), None)
    if word is not None:
        hint = {"body": f"http.Body[{type_name(value_type)}]", "query": type_name(value_type),
                "path": f"{{{name}}} in the route path"}.get(
            word.lower(), f"Annotated[{type_name(value_type)}, http.{word.title()}()]")
        raise DeclarationError(f"{qualname}({name}: {type_name(tp)}): {word!r} in Annotated "
                               f"binds nothing; did you mean {hint}?")
    queried = _read_text(name, "query", name, value_type, default, constraints)
    return queried if queried is not None else Param(name, "injected", value_type, default)


def _read_text(name: str, where: Where, key: str, tp: Any, default: Any,
               constraints: list[Field]) -> Param | None:
    """The plan of a parameter read from text, or None when ``tp`` cannot be: a value type, or
    a list of one in a query or header, optional or not, with any constraints."""
    text_type, inner = fields_of(_without_none(tp))
    item_type: Any = None
    item_constraints: list[Field] = []
    if typing.get_origin(text_type) is list:
        if where not in ("query", "header"):
            return None
        item_type, item_constraints = fields_of(typing.get_args(text_type)[0])
    parse = value_parser(text_type if item_type is None else item_type)
    if parse is None:
        return None
    return Param(name, where, tp, default, (*constraints, *inner), key, parse, item_type,
                 tuple(item_constraints), text_type)


def _without_none(tp: Any) -> Any:
    """``X`` of ``X | None`` (and ``X | Y`` of ``X | Y | None``); any other type as it is."""
    if typing.get_origin(tp) not in (Union, types.UnionType):
        return tp
    options = tuple(arg for arg in typing.get_args(tp) if arg is not NONE)
    return options[0] if len(options) == 1 else Union[options]  # noqa: UP007


def _text_param(qualname: str, name: str, where: Where, key: str, tp: Any, default: Any,
                constraints: list[Field]) -> Param:
    param = _read_text(name, where, key, tp, default, constraints)
    if param is None:
        raise DeclarationError(
            f"{qualname}({name}: {type_name(tp)}): {where} parameter {name!r} is annotated "
            f"{type_name(tp)}: use str, int, float, bool, Decimal, UUID, datetime, date, time, "
            "an Enum, a Literal, X | None of these, or a list of these (query and header)")
    return param


def check_bindable(plans: list[RoutePlan], provides: Callable[[Any], bool]) -> None:
    """Raise DeclarationError for the first route parameter nothing can bind."""
    for plan in plans:
        problem = plan.unbindable(provides)
        if problem is not None:
            raise DeclarationError(problem)
