"""App: a module tree turned into this process's container, config, listeners and commands.

Everything is checked when the App is built: the module tree, every provider's graph and the
listeners' and commands' dependencies. What is left for run time is resolving providers,
opening request scopes and dispatching events.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import blinker
import click

from framework.config import ConfigError, ConfigValues, read_dotenv
from framework.di.autowire import dependencies_of
from framework.di.container import Container, Declaration
from framework.di.errors import MissingDependency
from framework.di.provider import ProviderSpec, token_name
from framework.di.scope import RequestScope
from framework.events import ListenerError, ServerEvent, listened_tokens
from framework.module import Module, ModuleTree
from framework.process import process_info

Listener = tuple[blinker.Signal, int, str, Callable[[], Callable[..., Any]]]


class App:
    """The root of an app: its own providers are visible everywhere and override the others."""

    #: ``with app.request_scope():`` / ``async with``: request-scoped services of one request.
    request_scope = RequestScope

    def __init__(self, *, imports: Sequence[Any] = (), providers: Sequence[Any] = (),
                 controllers: Sequence[type] = (), listeners: Sequence[Any] = (),
                 commands: Sequence[Any] = (), config: type | None = None,
                 middlewares: Sequence[Any] = (), name: str = "app") -> None:
        self.name = name
        #: set by load_config_from_env; the CLI loads the environment itself when still False
        self.env_loaded = False
        root = _RootModule(imports=list(imports), providers=list(providers),
                           controllers=list(controllers), listeners=list(listeners),
                           commands=list(commands), middlewares=list(middlewares), config=config)
        self._tree = ModuleTree(root)
        self._configs = self._declare_configs()
        self._container = Container(self._tree.missing_hint)
        for declaration in self._tree.declarations():
            self._container.build(declaration)
        self._resolvers: dict[Any, Callable[[], Any]] = {}
        for token in self._tokens():
            self._resolvers[token] = self._container.build(self._tree.find(token))
        self._listeners = self._collect_listeners()
        self._injections = self._plan_commands()

    # -- resolving ----------------------------------------------------------------------------

    def get(self, token: Any) -> Any:
        """Resolve ``token`` in this process (request-scoped ones inside a request scope)."""
        provider = self._resolvers.get(token)
        if provider is None:
            raise MissingDependency(f"{token_name(token)}: no provider for {token_name(token)} "
                                    "(declared in a module of this App?)")
        return provider()

    @property
    def controllers(self) -> list[type]:
        """Every controller class of the module tree (request-scoped; resolve with ``get``)."""
        return [c for scope in self._tree.scopes for c in scope.module.controllers]

    @property
    def middlewares(self) -> list[Any]:
        """The aiohttp middlewares the modules declare, imported modules' first."""
        return [m for scope in self._tree.scopes for m in scope.module.middlewares]

    @property
    def commands(self) -> list[Any]:
        """The click commands the modules declare (their injected parameters: ``injections``)."""
        return [c for scope in self._tree.scopes for c in scope.module.commands]

    def injections(self, command: Any) -> dict[str, Callable[[], Any]]:
        """For a module command: its injected parameter names and their providers."""
        return self._injections[id(command)]

    async def startup(self) -> None:
        """Initialise this process's async resources (async factories and generators)."""
        await self._container.startup()

    async def shutdown(self) -> None:
        """Tear down this process's resources, the last built first."""
        await self._container.shutdown()

    # -- config -------------------------------------------------------------------------------

    def load_config_from_env(self, prefix: str = "APP_", dotenv: str | Path = ".env") -> App:
        """Read ``<prefix><MODULE>_<FIELD>`` (and ``<prefix><FIELD>`` for the App's config)
        from the environment and ``.env`` (the environment wins); returns the App."""
        environ = {**read_dotenv(Path(dotenv)), **os.environ}
        for module_name, values in self._configs.items():
            values.load_env(prefix, module_name, environ)
        self._refresh_configs()
        self.env_loaded = True
        return self

    def configure(self, module_name: str, **values: Any) -> App:
        """Set config fields at command-line-flag level: ``configure("framework", port=9000)``.

        The App's own config is the module named "".
        """
        config = self._configs.get(module_name)
        if config is None:
            raise ConfigError(f"no module config named {module_name!r}; configs: "
                              f"{', '.join(repr(name) for name in self._configs)}")
        config.set("flag", values)
        self._refresh_configs()
        return self

    def config_sources(self) -> list[tuple[str, str, Any, str, str]]:
        """Every config value: (module, field, value, source, environment variable)."""
        return [(module_name or "(app)", name, value, source,
                 values.variables[name] if source == "env" else "")
                for module_name, values in self._configs.items()
                for name, value, source in values.sources()]

    def provider_table(self) -> list[tuple[str, Declaration, str, bool]]:
        """Every declared provider by module, its config first:
        (module, declaration, visibility, is_config).

        Visibility: "global" (a config or the App's own: seen everywhere), "exported",
        "private", or "overridden" (the App declares the same token: everyone gets the App's).
        """
        root = self._tree.root
        rows = []
        for scope in self._tree.scopes:
            config = self._tree.configs.get(scope.module.config)
            if config is not None:
                rows.append((scope.label, config, "global", True))
            for declaration in scope.own.values():
                if scope.is_root:
                    visibility = "global"
                elif declaration.token in root.own:
                    visibility = "overridden"
                else:
                    visibility = "exported" if declaration.exported else "private"
                rows.append((scope.label, declaration, visibility, False))
        return rows

    def _declare_configs(self) -> dict[str, ConfigValues]:
        configs: dict[str, ConfigValues] = {}
        for scope in self._tree.scopes:
            module = scope.module
            if module.config is None:
                continue
            values = ConfigValues(module.config, scope.label)
            values.set("option", module.options if not scope.is_root else {})
            configs[module.module_name] = values
            spec = ProviderSpec(module.config, "value", values.build())
            self._tree.configs[module.config] = Declaration(spec, scope.label, scope.lookup)
        return configs

    def _refresh_configs(self) -> None:
        for values in self._configs.values():
            declaration = self._tree.configs[values.config_class]
            self._container.build(declaration).set_provides(values.build())

    # -- events -------------------------------------------------------------------------------

    async def dispatch(self, token: blinker.Signal, event: Any = None) -> None:
        """Run this process's listeners of ``token`` in order, awaiting async ones.

        A listener that raises stops the dispatch with a ListenerError naming it.
        """
        if event is None:
            event = ServerEvent(process_info())
        for listened, _, name, resolve in self._listeners:
            if listened is not token:
                continue
            try:
                result = resolve()(event)
                if inspect.isawaitable(result):
                    await result
            except Exception as error:
                raise ListenerError(f"listener {name} failed on {token.name}: "
                                    f"{type(error).__name__}: {error}") from error
        for receiver in list(token.receivers_for(self)):
            result = receiver(self, event=event)
            if inspect.isawaitable(result):
                await result

    def _collect_listeners(self) -> list[Listener]:
        found: list[Listener] = []
        for scope in self._tree.scopes:
            for listener in scope.module.listeners:
                if isinstance(listener, type):
                    provider = self._container.build(scope.own[listener])
                    for attribute in dir(listener):
                        for token, order in listened_tokens(getattr(listener, attribute, None)):
                            found.append((token, order, f"{listener.__qualname__}.{attribute}",
                                          _bound(provider, attribute)))
                else:
                    marks = listened_tokens(listener)
                    if not marks:
                        raise TypeError(f"{scope.label}.listeners: {listener!r} has no "
                                        "@event_dispatcher.listen(...)")
                    for token, order in marks:
                        found.append((token, order, listener.__qualname__,
                                      _constant(listener)))
        found.sort(key=lambda entry: entry[1])
        return found

    # -- commands -----------------------------------------------------------------------------

    def _plan_commands(self) -> dict[int, dict[str, Callable[[], Any]]]:
        plans: dict[int, dict[str, Callable[[], Any]]] = {}
        for scope in self._tree.scopes:
            for command in scope.module.commands:
                declared = frozenset(parameter.name for parameter in command.params)
                plan = {}
                for dependency in dependencies_of(command.callback, skip=declared):
                    if dependency.token is click.Context:  # given by @click.pass_context
                        continue
                    found = scope.lookup(dependency.token)
                    if found is None:
                        raise MissingDependency(
                            f"{command.name} -> {token_name(dependency.token)}: no provider "
                            f"for {token_name(dependency.token)} "
                            f"(declared in {scope.label}? exported by an imported module?)")
                    plan[dependency.name] = self._container.build(found)
                plans[id(command)] = plan
        return plans

    def _tokens(self) -> list[Any]:
        tokens = dict.fromkeys(self._tree.configs)
        for scope in self._tree.scopes:
            tokens.update(dict.fromkeys(scope.own))
            tokens.update(dict.fromkeys(scope.exported))
        return list(tokens)

    # -- command line -------------------------------------------------------------------------

    def run(self, argv: list[str] | None = None) -> None:
        """The command line of this app: ``python app.py server:start`` and the others."""
        from framework.cli import run_app

        run_app(self, argv)


class _RootModule(Module):
    """The App's own declarations, as the root of the module tree (its config namespace: "")."""

    def __init__(self, **declarations: Any) -> None:
        super().__init__()
        for attribute, value in declarations.items():
            setattr(self, attribute, value)

    @property
    def module_name(self) -> str:
        return ""


def _bound(provider: Callable[[], Any], attribute: str) -> Callable[[], Callable[..., Any]]:
    return lambda: getattr(provider(), attribute)


def _constant(function: Callable[..., Any]) -> Callable[[], Callable[..., Any]]:
    return lambda: function
