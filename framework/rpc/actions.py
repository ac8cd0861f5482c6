"""Declaring RPC controllers and actions, and the plan that checks an action's params."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from framework.errors import FrameworkError
from framework.values.convert import from_json
from framework.values.faults import Fault, Faults
from framework.values.fields import type_name

_NAME = "__fw_rpc_controller__"
_ACTION = "__fw_rpc_action__"

Action = TypeVar("Action", bound=Callable[..., object])


def controller(name: str) -> Callable[[type], type]:
    """``@rpc.controller("users")``: the class's actions are called as ``users.<action>``."""
    if not name or not isinstance(name, str):
        raise ValueError(f"an RPC controller needs a non-empty name, got {name!r}")

    def mark(cls: type) -> type:
        setattr(cls, _NAME, name)
        return cls
    return mark


def action(func: Action) -> Action:
    """Makes a method of an RPC controller callable; other methods stay private."""
    setattr(func, _ACTION, True)
    return func


def controller_name(cls: type) -> str | None:
    return vars(cls).get(_NAME)


def actions_of(cls: type) -> dict[str, Callable[..., object]]:
    """The ``@rpc.action`` methods of ``cls`` by name, inherited ones included."""
    found: dict[str, Callable[..., object]] = {}
    for klass in reversed(cls.__mro__):
        for name, member in vars(klass).items():
            if getattr(member, _ACTION, False):
                found[name] = member
    return found


class InvalidParams(FrameworkError):
    """Params that do not fit the action; ``errors`` lists each Fault (where: "params",
    field: the parameter, or "params" for the whole list)."""

    def __init__(self, errors: list[Fault]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{fault.field!r} {fault.problem}" for fault in errors))


class ParamsPlan:
    """An action's parameters, read once: names, annotations, defaults, which are positional."""

    def __init__(self, func: Callable[..., object]) -> None:
        hints = inspect.get_annotations(func, eval_str=True)
        params = list(inspect.signature(func).parameters.values())[1:]
        for param in params:
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
                raise TypeError(f"RPC action {func.__qualname__}: parameter {param.name!r} "
                                "must be a plain or keyword-only parameter")
        self.params = [(p.name, hints.get(p.name, Any), p.default) for p in params]
        self.positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
        self.names = {p.name for p in params}

    def bind(self, params: list[Any] | dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments for the action from JSON-RPC ``params``; InvalidParams names faults."""
        faults = Faults("params")
        if isinstance(params, list):
            if len(params) > len(self.positional):
                faults.add("params", f"takes at most {len(self.positional)} positional "
                                     f"params, got {len(params)}")
            given = dict(zip(self.positional, params, strict=False))
        else:
            given = params
            for name in given:
                if name not in self.names:
                    faults.add(name, "is not a parameter of this method")
        kwargs: dict[str, Any] = {}
        for name, tp, default in self.params:
            if name in given:
                kwargs[name] = from_json(tp, given[name], name, faults)
            elif default is inspect.Parameter.empty:
                faults.add(name, f"is missing ({type_name(tp)})")
        if faults:
            raise InvalidParams(faults)
        return kwargs
