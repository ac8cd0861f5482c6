"""Modules: what each part of an app provides, serves and listens to, and who sees what.

A module's providers are private to it and the modules it imports, unless it exports them;
exports go to the importing module, and what reaches the root App is visible everywhere.
A provider of the root App itself overrides any other provider of the same token.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator

import click

from framework.config import ConfigError, config_fields
from framework.di.provider import Declaration, ProviderSpec, as_spec, provide, token_name
from framework.errors import DeclarationError

__all__ = ["Module", "ModuleTree", "provide"]


class Module:
    """Subclass it and fill the class attributes; ``Module(**options)`` sets config fields."""

    name: str = ""
    config: type | None = None
    providers: list[object] = []
    controllers: list[type] = []
    listeners: list[type] = []
    commands: list[click.Command] = []
    imports: list[Module | type[Module]] = []
    exports: list[object] = []
    middlewares: list[object] = []

    def __init__(self, **options: object) -> None:
        label = type(self).__name__
        if options:
            if self.config is None:
                raise ConfigError(f"{label} has no config class, so it takes no options; "
                                  f"got {', '.join(options)}")
            valid = config_fields(self.config)
            unknown = sorted(set(options) - set(valid))
            if unknown:
                raise ConfigError(f"unknown option {', '.join(unknown)} for {label}; "
                                  f"valid options: {', '.join(valid)}")
        self.options: dict[str, object] = options

    @property
    def module_name(self) -> str:
        """The config namespace: ``name``, or the class name without "Module", lowercased."""
        if self.name:
            return self.name
        return type(self).__name__.removesuffix("Module").lower() or "module"

    @property
    def label(self) -> str:
        return type(self).__name__


class _ModuleScope:
    """One module in the tree: its own declarations, what it imports and what it exports."""

    def __init__(self, module: Module, tree: ModuleTree, is_root: bool) -> None:
        self.module = module
        self.tree = tree
        self.is_root = is_root
        self.label = "App" if is_root else module.label
        self.imports: list[_ModuleScope] = []
        self.own: dict[Hashable, Declaration] = {}
        self.imported: dict[Hashable, Declaration] = {}
        self.exported: dict[Hashable, Declaration] = {}

    def declare(self, spec: ProviderSpec) -> Declaration:
        existing = self.own.get(spec.token)
        if existing is not None:
            if existing.spec.target is spec.target:
                return existing
            raise DeclarationError(f"{self.label} declares {token_name(spec.token)} twice")
        declaration = Declaration(spec, self.label, self.lookup)
        self.own[spec.token] = declaration
        return declaration

    def lookup(self, token: Hashable) -> Declaration | None:
        """The provider this module sees for ``token``: root's, own, imported, then global."""
        root = self.tree.root
        return (root.own.get(token) or self.own.get(token) or self.imported.get(token)
                or root.imported.get(token) or self.tree.configs.get(token))


class ModuleTree:
    """The modules of an App, walked once: declarations with their visibility, in tree order."""

    def __init__(self, root: Module) -> None:
        self.configs: dict[Hashable, Declaration] = {}
        self.scopes: list[_ModuleScope] = []
        self._seen: dict[int, _ModuleScope] = {}
        self.root = self._walk(root, is_root=True, path=())

    def _walk(self, module: Module, is_root: bool, path: tuple[int, ...]) -> _ModuleScope:
        if id(module) in path:
            raise ConfigError(f"{module.label} imports itself (through its imports)")
        seen = self._seen.get(id(module))
        if seen is not None:
            return seen
        scope = _ModuleScope(module, self, is_root)
        self._seen[id(module)] = scope
        for entry in module.imports:
            imported = entry() if isinstance(entry, type) and issubclass(entry, Module) else entry
            if not isinstance(imported, Module):
                raise TypeError(f"{module.label}.imports takes modules, got {entry!r}")
            child = self._walk(imported, False, (*path, id(module)))
            scope.imports.append(child)
            scope.imported.update(child.exported)
        self.scopes.append(scope)
        for provider in module.providers:
            scope.declare(as_spec(provider))
        for controller in module.controllers:
            scope.declare(as_spec(controller, scope="request"))
        for listener in module.listeners:
            if isinstance(listener, type):
                scope.declare(as_spec(listener))
        self._export(scope)
        return scope

    def _export(self, scope: _ModuleScope) -> None:
        for entry in scope.module.exports:
            modules = [child for child in scope.imports
                       if child.module is entry or type(child.module) is entry]
            if modules:
                for child in modules:
                    scope.exported.update(child.exported)
                continue
            declaration = scope.own.get(entry) or scope.imported.get(entry)
            if declaration is None:
                raise ConfigError(f"{scope.label} exports {token_name(entry)} but neither "
                                  "provides nor imports it")
            declaration.exported = True
            scope.exported[entry] = declaration

    def declarations(self) -> Iterator[Declaration]:
        """Every declaration, module by module in tree order."""
        for scope in self.scopes:
            yield from scope.own.values()

    def find(self, token: Hashable) -> Declaration | None:
        """``token`` as the root sees it, or else the first module that declares it."""
        found = self.root.lookup(token)
        if found is not None:
            return found
        return next((s.own[token] for s in self.scopes if token in s.own), None)

    def missing_hint(self, declaration: Declaration, token: Hashable) -> str:
        """``declared in AppModule? exported by DbModule?`` for a token nobody lets it see."""
        holders = [s.label for s in self.scopes if token in s.own]
        exporter = " or ".join(holders) if holders else "an imported module"
        return f"declared in {declaration.owner}? exported by {exporter}?"
