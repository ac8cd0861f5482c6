"""Route plans: where each parameter of a controller method comes from, decided once as data.

A RoutePlan names its controller class and method and lists every parameter with where it
is read (path, query, header, cookie, body, the request, or the container), its value type,
default and constraints. The App plans its routes once when it is built (``app.route_plans``)
and checks them; the server binds requests by them (framework.http.binding), OpenAPI
documents them and ``fw debug:routes`` prints them. A plan is plain data: this module
imports no aiohttp, so the App knows its routes without the web layer. The one aiohttp type
a plan must recognise, the request, is looked up among the modules already loaded (see
``_is_request_class``).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import sys
import types
import typing
from collections.abc import Callable, Sequence
from typing import Annotated, Literal, Union

from framework.errors import DeclarationError
from framework.http.routes import BODY, Cookie, Header, route_status, routes_of
from framework.values.fields import NONE, Field, TypeForm, fields_of, type_hints, type_name
from framework.values.text import Parse, value_parser

__all__ = ["REQUIRED", "Param", "RoutePlan", "Where", "check_bindable", "plan_route",
           "plans_of"]

Where = Literal["path", "query", "header", "cookie", "body", "request", "injected"]
#: the default of a parameter that has none: it must be sent (or injected)
REQUIRED = inspect.Parameter.empty
_PATH_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_WHERE_WORDS = frozenset({"path", "query", "header", "cookie", "body"})


@dataclasses.dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a route: read from ``where`` under ``key``, converted to ``type``."""

    name: str
    where: Where
    type: TypeForm
    default: object = REQUIRED
    constraints: tuple[Field, ...] = ()
    key: str = ""
    #: text to value (path, query, header, cookie); a list's item parser for repeated keys
    parse: Parse | None = dataclasses.field(default=None, compare=False, repr=False)
    #: a list's item type and its constraints: each repeated key is one item
    item_type: TypeForm = None
    item_constraints: tuple[Field, ...] = ()
    #: what a text is read as: ``X`` of ``X | None``, since no text is None (the parameter
    #: left out takes its default); the published schema is this type's
    text_type: TypeForm = None

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
    #: the class whose method serves the route (resolved per request) and that method
    controller: type
    function: Callable[..., object]

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

    def unbindable(self, provides: Callable[[TypeForm], bool]) -> str | None:
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


def plans_of(controllers: Sequence[type]) -> list[RoutePlan]:
    """The plan of every route of ``controllers``, in declaration order."""
    return [plan_route(controller, func, method, path) for controller in controllers
            for method, path, func in routes_of(controller)]


def plan_route(controller: type, func: Callable[..., object], method: str,
               path: str) -> RoutePlan:
    """The plan of ``controller``'s ``func`` served at ``method path``; DeclarationError names
    what cannot be bound (the container's part is checked by ``RoutePlan.unbindable``)."""
    hints = type_hints(func)
    path_names = set(_PATH_PARAM.findall(path))
    parameters = list(inspect.signature(func).parameters.values())[1:]
    missing = path_names - {p.name for p in parameters}
    if missing:
        raise DeclarationError(f"{func.__qualname__}: path {path!r} has "
                               f"{{{sorted(missing)[0]}}} but no parameter of that name")
    params = tuple(_plan_param(func.__qualname__, p, hints.get(p.name, REQUIRED), path_names)
                   for p in parameters)
    return RoutePlan(func.__qualname__, method, path, route_status(func, method, path), params,
                     controller, func)


def _plan_param(qualname: str, param: inspect.Parameter, tp: TypeForm,
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
    if _is_request_class(value_type):
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


def _is_request_class(tp: TypeForm) -> bool:
    """Whether ``tp`` is aiohttp's request class or one derived from it. A class can derive
    from it only once aiohttp is loaded, so it is looked up there instead of imported."""
    web_request = sys.modules.get("aiohttp.web_request")
    return (web_request is not None and isinstance(tp, type)
            and issubclass(tp, web_request.BaseRequest))


def _read_text(name: str, where: Where, key: str, tp: TypeForm, default: object,
               constraints: list[Field]) -> Param | None:
    """The plan of a parameter read from text, or None when ``tp`` cannot be: a value type, or
    a list of one in a query or header, optional or not, with any constraints."""
    text_type, inner = fields_of(_without_none(tp))
    item_type: TypeForm = None
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


def _without_none(tp: TypeForm) -> TypeForm:
    """``X`` of ``X | None`` (and ``X | Y`` of ``X | Y | None``); any other type as it is."""
    if typing.get_origin(tp) not in (Union, types.UnionType):
        return tp
    options = tuple(arg for arg in typing.get_args(tp) if arg is not NONE)
    return options[0] if len(options) == 1 else Union[options]  # noqa: UP007


def _text_param(qualname: str, name: str, where: Where, key: str, tp: TypeForm,
                default: object, constraints: list[Field]) -> Param:
    param = _read_text(name, where, key, tp, default, constraints)
    if param is None:
        raise DeclarationError(
            f"{qualname}({name}: {type_name(tp)}): {where} parameter {name!r} is annotated "
            f"{type_name(tp)}: use str, int, float, bool, Decimal, UUID, datetime, date, time, "
            "an Enum, a Literal, X | None of these, or a list of these (query and header)")
    return param


def check_bindable(plans: Sequence[RoutePlan], provides: Callable[[TypeForm], bool]) -> None:
    """Raise DeclarationError for the first route parameter nothing can bind."""
    for plan in plans:
        problem = plan.unbindable(provides)
        if problem is not None:
            raise DeclarationError(problem)
