"""App: a module tree turned into this process's container, config, listeners and commands.

Everything is checked when the App is built: the module tree, every provider's graph, the
listeners' and commands' dependencies, and where every route parameter comes from. What is
left for run time is resolving providers, opening request scopes and dispatching events.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Hashable, Sequence
from importlib.metadata import distributions
from pathlib import Path
from typing import Any, Protocol

import blinker
import click

from framework.config import ConfigError, ConfigSource, ConfigValues, read_dotenv
from framework.di.autowire import dependencies_of
from framework.di.container import Container
from framework.di.errors import MissingDependency
from framework.di.provider import Declaration, ProviderSpec, token_name
from framework.di.scope import RequestScope
from framework.events import ListenerError, ServerEvent, listened_tokens
from framework.http.plan import RoutePlan, check_bindable, plans_of
from framework.module import Module, ModuleTree
from framework.process import process_info

__all__ = ["COMMAND_LINE_GROUP", "App", "CommandLine"]

#: The entry point group App.run takes its command line from (fw's pyproject fills it).
COMMAND_LINE_GROUP = "fw.command_line"


class CommandLine(Protocol):
    """What App.run hands itself to: run the command line for ``app`` on ``argv``, then exit."""

    def __call__(self, app: App, argv: list[str] | None = None, /) -> None: ...


Listener = tuple[blinker.Signal, int, str, Callable[[], Callable[..., object]]]


class App:
    """The root of an app: its own providers are visible everywhere and override the others."""

    #: ``with app.request_scope():`` / ``async with``: request-scoped services of one request.
    request_scope = RequestScope

    def __init__(self, *, imports: Sequence[Module | type[Module]] = (),
                 providers: Sequence[object] = (), controllers: Sequence[type] = (),
                 listeners: Sequence[type] = (), commands: Sequence[click.Command] = (),
                 config: type | None = None, middlewares: Sequence[object] = (),
                 name: str = "app") -> None:
        self.name = name
        #: set by load_config_from_env; the CLI loads the environment itself when still False
        self.env_loaded = False
        root = _RootModule(imports=list(imports), providers=list(providers),
                           controllers=list(controllers), listeners=list(listeners),
                           commands=list(commands), middlewares=list(middlewares), config=config)
        self._tree = ModuleTree(root)
        self._configs = self._declare_configs()
        self._container = Container(self._tree.missing_hint)
        self._container.build_all(self._tree.declarations())
        self._resolvers = {token: self._container.build(found) for token in self._tokens()
                            if (found := self._tree.find(token)) is not None}
        self._listeners = self._collect_listeners()
        self._injections = self._plan_commands()
        #: where each route's parameters come from; a parameter nothing binds stops the build
        self.route_plans: list[RoutePlan] = plans_of(self.controllers)
        check_bindable(self.route_plans, self._resolvers.__contains__)

    # -- resolving ----------------------------------------------------------------------------

    def get(self, token: Hashable) -> Any:
        """Resolve ``token`` in this process (request-scoped ones inside a request scope)."""
        provider = self._resolvers.get(token)
        if provider is None:
            raise MissingDependency(f"{token_name(token)}: no provider for {token_name(token)} "
                                    "(declared in a module of this App?)")
        return provider()

    def override_in_process(self, token: Hashable, value: object) -> None:
        """Resolve ``token`` to ``value`` in this process only: the server tells a process what
        it is (a worker's ProcessInfo and broker, the master's Supervisor). A token the App
        does not declare has nobody to tell."""
        declaration = self._tree.find(token)
        if declaration is not None:
            self._container.override_in_process(declaration, value)

    @property
    def module_tree(self) -> ModuleTree:
        """The modules as walked at build: each one's own, imported and exported providers."""
        return self._tree

    @property
    def controllers(self) -> list[type]:
        """Every controller class of the module tree (request-scoped; resolve with ``get``)."""
        return [c for scope in self._tree.scopes for c in scope.module.controllers]

    @property
    def middlewares(self) -> list[object]:
        """The aiohttp middlewares the modules declare, imported modules' first."""
        return [m for scope in self._tree.scopes for m in scope.module.middlewares]

    @property
    def commands(self) -> list[click.Command]:
        """The click commands the modules declare (their injected parameters: ``injections``)."""
        return [c for scope in self._tree.scopes for c in scope.module.commands]

    def injections(self, command: click.Command) -> dict[str, Callable[[], object]]:
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

    def configure(self, module_name: str, **values: object) -> App:
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

    def config_sources(self) -> list[ConfigSource]:
        """Every config value, with its module, the layer that set it and its variable."""
        return [row for module_name, values in self._configs.items()
                for row in values.sources(module_name or "(app)")]

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

    async def dispatch(self, token: blinker.NamedSignal, event: object = None) -> None:
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

    def _plan_commands(self) -> dict[int, dict[str, Callable[[], object]]]:
        plans: dict[int, dict[str, Callable[[], object]]] = {}
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

    def _tokens(self) -> list[Hashable]:
        tokens = dict.fromkeys(self._tree.configs)
        for scope in self._tree.scopes:
            tokens.update(dict.fromkeys(scope.own))
            tokens.update(dict.fromkeys(scope.exported))
        return list(tokens)

    # -- command line -------------------------------------------------------------------------

    def run(self, argv: list[str] | None = None) -> None:
        """The command line of this app: ``python app.py server:start`` and the others.

        The App names no command line: it runs the one installed under the entry point group
        ``fw.command_line`` (fw's own is ``framework.cli.run_app``), so imports point one way.
        Every copy of fw's metadata is read, so a stale ``*.egg-info`` on the path hides none.
        """
        installed = {entry.value: entry for dist in distributions()
                     for entry in dist.entry_points.select(group=COMMAND_LINE_GROUP)}
        if len(installed) != 1:
            sys.exit(f"fw: found {len(installed)} command lines under the entry point group "
                     f"{COMMAND_LINE_GROUP!r} ({', '.join(installed) or 'none'}), expected "
                     "fw's one: reinstall fw so its package metadata is current")
        command_line: CommandLine = next(iter(installed.values())).load()
        command_line(self, argv)


class _RootModule(Module):
    """The App's own declarations, as the root of the module tree (its config namespace: "")."""

    def __init__(self, **declarations: object) -> None:
        super().__init__()
        for attribute, value in declarations.items():
            setattr(self, attribute, value)

    @property
    def module_name(self) -> str:
        return ""


def _bound(provider: Callable[[], object], attribute: str
           ) -> Callable[[], Callable[..., object]]:
    return lambda: getattr(provider(), attribute)


def _constant(function: Callable[..., object]) -> Callable[[], Callable[..., object]]:
    return lambda: function
