"""``rpc.discover``: the OpenRPC 1.x document of every action, from the same plans that bind
its params, so clients and tools see the params and results the server takes and gives."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from framework.rpc.actions import ParamsPlan
from framework.values.fields import type_hints
from framework.values.schema import Schemas

DISCOVER = "rpc.discover"
OPENRPC_VERSION = "1.3.2"


def openrpc_document(actions: Mapping[str, tuple[Callable[..., object], ParamsPlan]],
                     title: str = "fw JSON-RPC", version: str = "1.0.0") -> dict[str, object]:
    """The OpenRPC document of ``actions`` (method name: its function and params plan)."""
    schemas = Schemas()
    methods = [_method(name, func, plan, schemas)
               for name, (func, plan) in sorted(actions.items())]
    document: dict[str, object] = {"openrpc": OPENRPC_VERSION,
                                "info": {"title": title, "version": version},
                                "methods": methods}
    if schemas.components:
        document["components"] = {"schemas": schemas.components}
    return document


def _method(name: str, func: Callable[..., object], plan: ParamsPlan,
            schemas: Schemas) -> dict[str, object]:
    params = [{"name": param, "required": default is inspect.Parameter.empty,
               "schema": schemas.of(tp)} for param, tp, default in plan.params]
    returns = type_hints(func).get("return", Any)
    method: dict[str, object] = {
        "name": name, "params": params,
        # keyword-only params cannot be given by position
        "paramStructure": "either" if len(plan.positional) == len(params) else "by-name",
        "result": {"name": "result", "schema": schemas.of(returns)}}
    summary = (inspect.getdoc(func) or "").strip().split("\n\n")[0]
    if summary:
        method["summary"] = " ".join(summary.split())
    return method
