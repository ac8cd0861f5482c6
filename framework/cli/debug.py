"""What ``fw debug:routes``, ``fw debug:di`` and ``fw debug:config`` print: the app's own
declarations as aligned tables, read from the App without building any service."""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from typing import Any

from framework.app import App
from framework.di.provider import Declaration, token_name
from framework.module import ModuleTree
from framework.rpc.actions import actions_of, controller_name
from framework.rpc.endpoint import RPC_PATH

Table = tuple[tuple[str, ...], list[tuple[str, ...]]]

_SECRET_FIELD = re.compile(r"password|secret|token|api_?key", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+(?P<at>@)")
_MAX_VALUE = 40


def routes_table(app: App) -> Table:
    """Every HTTP route with where its parameters come from (its route plan), then
    every RPC action (method RPC, path ``<controller>.<action>``)."""
    rows: list[tuple[str, ...]] = []
    for plan in app.route_plans:
        rows.append((plan.method, plan.path, plan.controller.__qualname__,
                     plan.function.__name__, "; ".join(param.describe() for param in plan.params)))
    for controller in app.controllers:
        rpc_name = controller_name(controller)
        if rpc_name:
            rows += [("RPC", f"{rpc_name}.{action}", controller.__qualname__, action, "")
                     for action in actions_of(controller)]
    return ("method", "path", "controller", "handler", "parameters"), rows


def routes_note(app: App) -> str:
    """The line under the routes: where RPC is served, or that nothing is."""
    if any(controller_name(c) and actions_of(c) for c in app.controllers):
        return f"RPC actions are called over POST {RPC_PATH} and the WebSocket at GET {RPC_PATH}."
    if not app.controllers:
        return "No routes: the app's modules declare no controllers."
    return ""


def providers_table(app: App) -> Table:
    """Every provider by module, its config first: scope, how it is built and from what, and
    who can see it."""
    rows: list[tuple[str, ...]] = []
    tree = app.module_tree
    for scope in tree.scopes:
        config = tree.configs.get(scope.module.config)
        if config is not None:
            rows.append((scope.label, token_name(config.token), config.scope, "config",
                         token_name(config.token), "global"))
        for declaration in scope.own.values():
            rows.append((scope.label, token_name(declaration.token), declaration.scope,
                         _kind(declaration), _built_from(declaration),
                         _visibility(tree, scope.is_root, declaration)))
    return ("module", "provider", "scope", "kind", "from", "visibility"), rows


def config_table(app: App) -> Table:
    """Every config value and where it came from; passwords and secrets are masked."""
    rows: list[tuple[str, ...]] = [
        (module, name, _shown_value(name, value), source + (f" {variable}" if variable else ""))
        for module, name, value, source, variable in app.config_sources()]
    return ("module", "field", "value", "source"), rows


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns two spaces apart, widths fitted to the longest cell."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in (header, *rows)]


def _visibility(tree: ModuleTree, in_root: bool, declaration: Declaration) -> str:
    """Who sees it: "global" (the App's own: everywhere), "overridden" (the App declares the
    same token, so everyone gets the App's), "exported" or "private"."""
    if in_root:
        return "global"
    if declaration.token in tree.root.own:
        return "overridden"
    return "exported" if declaration.exported else "private"


def _kind(declaration: Declaration) -> str:
    spec = declaration.spec
    if spec.kind != "factory":
        return spec.kind
    if inspect.isasyncgenfunction(spec.target):
        return "async resource"
    if inspect.iscoroutinefunction(spec.target):
        return "async factory"
    return "resource" if inspect.isgeneratorfunction(spec.target) else "factory"


def _built_from(declaration: Declaration) -> str:
    spec = declaration.spec
    if spec.kind in ("class", "factory"):
        name = str(getattr(spec.target, "__qualname__", token_name(spec.target)))
        return name if spec.kind == "class" else f"{name}()"
    value = spec.target
    representation: object = type(value).__repr__
    if representation is object.__repr__:  # the value has no repr of its own
        return f"{type(value).__qualname__}()"
    return _shown_value(token_name(declaration.token), value)


def _shown_value(name: str, value: Any) -> str:
    """``repr(value)``, shortened; masked when ``name`` says secret or a URL holds a password."""
    if _SECRET_FIELD.search(name) and value:
        return "'***'"
    text = repr(value)
    if isinstance(value, str):
        text = _URL_PASSWORD.sub(r"\g<head>***\g<at>", text)
    return _shorten(text)


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE - 3] + "..."
