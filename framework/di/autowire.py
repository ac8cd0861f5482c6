"""What a class or factory needs: its parameters read once, from type hints, at App build."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from framework.di.errors import DependencyError
from framework.di.provider import token_name


@dataclass(frozen=True)
class Dependency:
    """One parameter to fill: by ``token``; None allowed when ``optional``."""

    name: str
    token: Hashable
    optional: bool
    has_default: bool
    positional_only: bool


def dependencies_of(target: Any, skip: frozenset[str] = frozenset()) -> list[Dependency]:
    """The injectable parameters of a class constructor or a function, in order.

    Parameters named in ``skip`` are someone else's (a click command's own options).
    """
    if isinstance(target, type) and getattr(target, "__init__", None) is object.__init__:
        return []
    try:
        signature = inspect.signature(target, eval_str=True)
    except (NameError, SyntaxError) as error:
        raise DependencyError(
            f"cannot read the type hints of {token_name(target)}: {error}") from None
    except (ValueError, TypeError):
        return []
    dependencies = []
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD) or (
                parameter.name in skip):
            continue
        has_default = parameter.default is not parameter.empty
        annotation = parameter.annotation
        if annotation is parameter.empty:
            if has_default:
                continue
            raise DependencyError(
                f"parameter {parameter.name!r} of {token_name(target)} has no type hint "
                "and no default: annotate it with the type to inject")
        token, optional = _unwrap_optional(annotation)
        dependencies.append(Dependency(parameter.name, token, optional, has_default,
                                       parameter.kind == parameter.POSITIONAL_ONLY))
    return dependencies


def _unwrap_optional(annotation: Hashable) -> tuple[Hashable, bool]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1 and len(typing.get_args(annotation)) == 2:
            return members[0], True
    return annotation, False
