"""The per-process container: declarations -> dependency-injector providers, built once.

`Container.build` turns every declaration into a compiled provider at App build, checking
the graph on the way (missing dependencies, cycles, singletons holding request-scoped
services). Resolution afterwards is a call of that provider. Singletons are per process:
after a fork the child drops the parent's instances (without tearing them down) and builds
its own.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import weakref
from collections.abc import AsyncGenerator, Callable, Generator, Hashable, Iterable
from typing import Any, cast

from dependency_injector import providers

from framework.di.autowire import Dependency, dependencies_of
from framework.di.errors import CircularDependency, MissingDependency, ScopeError
from framework.di.graph import longest_consumer_chain
from framework.di.provider import Declaration, token_name
from framework.di.scope import request_scoped

logger = logging.getLogger("framework.di")


MissingHint = Callable[[Declaration, Hashable], str]


class Container:
    """Compiled providers of one App; resources and singletons of the current process."""

    def __init__(self, missing_hint: MissingHint) -> None:
        self._missing_hint = missing_hint
        self._built: dict[Declaration, Any] = {}
        self._holds_request: dict[Declaration, bool] = {}
        self._building: list[Declaration] = []
        self._declared: list[Declaration] = []
        self._singletons: list[providers.Singleton[object]] = []
        self._async_resources: list[tuple[Declaration, providers.Singleton[object],
                                          providers.Callable[Callable[[], object]]]] = []
        self._teardowns: list[tuple[str, Generator[object] | AsyncGenerator[object]]] = []
        self._abandoned: list[Generator[object] | AsyncGenerator[object]] = []
        self._process_overrides: list[providers.Provider[object]] = []
        _containers.add(self)

    # -- building ---------------------------------------------------------------------------

    def build_all(self, declarations: Iterable[Declaration]) -> None:
        """Build every declaration of the App, so a mistake anywhere in the graph fails now."""
        self._declared = list(declarations)
        for declaration in self._declared:
            self.build(declaration)

    def build(self, declaration: Declaration) -> Any:
        """The compiled provider of ``declaration`` (built, with its whole graph, once)."""
        built = self._built.get(declaration)
        if built is not None:
            return built
        if declaration in self._building:
            raise CircularDependency(self._chain_text(declaration.token))
        self._building.append(declaration)
        try:
            provider = self._create(declaration)
        finally:
            self._building.pop()
        self._built[declaration] = provider
        return provider

    def _create(self, declaration: Declaration) -> Any:
        spec = declaration.spec
        if spec.kind == "value":
            self._holds_request[declaration] = False
            return providers.Object(spec.target)
        args, kwargs, request_dependency = self._inject(declaration,
                                                        dependencies_of(spec.target))
        self._holds_request[declaration] = spec.scope == "request" or (
            spec.scope == "transient" and request_dependency is not None)
        name = token_name(spec.token)
        if spec.scope == "singleton" and request_dependency is not None:
            raise ScopeError(
                f"{self._chain_text(request_dependency)}: singleton {name} would keep "
                f"the request-scoped {token_name(request_dependency)} of one request; "
                f"make {name} request-scoped or transient")
        target = cast("Callable[..., object]", spec.target)  # a class or factory: provide() checked
        if inspect.isgeneratorfunction(target) or _is_async(target):
            if spec.scope != "singleton":
                raise ScopeError(f"{name}: a generator or async factory is a resource; "
                                 f"its scope must be singleton, not {spec.scope!r}")
            if inspect.isgeneratorfunction(target):
                enter = functools.partial(self._enter_resource, name, target)
                return self._singleton(providers.Singleton(enter, *args, **kwargs))
            # The call is deferred: dependency-injector would treat the coroutine as its own.
            maker = providers.Callable(functools.partial(_deferred, target), *args, **kwargs)
            placeholder = providers.Singleton(_not_started, name)
            self._async_resources.append((declaration, placeholder, maker))
            return placeholder
        if spec.scope == "singleton":
            return self._singleton(providers.Singleton(target, *args, **kwargs))
        if spec.scope == "transient":
            return providers.Factory(target, *args, **kwargs)
        build = providers.Factory(target, *args, **kwargs) if args or kwargs else target
        return request_scoped(build, name)

    def _inject(self, declaration: Declaration, dependencies: list[Dependency]
                ) -> tuple[list[object], dict[str, object], Hashable | None]:
        """Providers for the dependencies, and one of them holding a request-scoped service."""
        args: list[object] = []
        kwargs: dict[str, object] = {}
        request_dependency: Hashable | None = None
        positional = True
        for dependency in dependencies:
            found = declaration.lookup(dependency.token)
            if found is None:
                if dependency.has_default:
                    positional = False
                    continue
                if dependency.optional:
                    value: object = None
                else:
                    raise MissingDependency(
                        f"{self._consumers_text(declaration, dependency.token)}: no provider "
                        f"for {token_name(dependency.token)} "
                        f"({self._missing_hint(declaration, dependency.token)})")
            else:
                value = self.build(found)
                if self._holds_request[found] and request_dependency is None:
                    request_dependency = dependency.token
            if positional or dependency.positional_only:
                args.append(value)
            else:
                kwargs[dependency.name] = value
        return args, kwargs, request_dependency

    def _consumers_text(self, declaration: Declaration, missing: Hashable) -> str:
        """``UserController -> UserService -> Db``: from the furthest consumer to ``missing``."""
        chain = longest_consumer_chain(declaration, [*self._declared, *self._building])
        return " -> ".join([*(token_name(d.token) for d in chain), token_name(missing)])

    def _chain_text(self, missing: Hashable = None) -> str:
        names = [token_name(d.token) for d in self._building]
        if missing is not None:
            names.append(token_name(missing))
        return " -> ".join(names)

    def _singleton(self, provider: providers.Singleton[object]) -> providers.Singleton[object]:
        self._singletons.append(provider)
        return provider

    # -- resources ----------------------------------------------------------------------------

    def _enter_resource(self, name: str, factory: Callable[..., Generator[object]],
                        *args: object, **kwargs: object) -> object:
        generator = factory(*args, **kwargs)
        value = next(generator)
        self._teardowns.append((name, generator))
        return value

    async def startup(self) -> None:
        """Await the async factories (dependencies first) and make their values injectable."""
        for declaration, placeholder, maker in self._async_resources:
            if placeholder.overridden:
                continue
            made = maker()()
            if inspect.isasyncgen(made):
                value = await made.__anext__()
                self._teardowns.append((token_name(declaration.token), made))
            else:
                value = await made
            placeholder.override(providers.Object(value))

    async def shutdown(self) -> None:
        """Tear the resources of this process down, last built first; then forget them."""
        while self._teardowns:
            name, generator = self._teardowns.pop()
            try:
                if isinstance(generator, AsyncGenerator):
                    await generator.__anext__()
                else:
                    next(generator)
            except (StopIteration, StopAsyncIteration):
                pass
            except Exception:
                logger.exception("tearing down %s failed", name)
            else:
                logger.error("resource %s yielded more than once; it was not finished", name)
        self._forget_instances()

    def _forget_instances(self) -> None:
        for singleton in self._singletons:
            singleton.reset()
        for _, placeholder, _ in self._async_resources:
            placeholder.reset_override()

    # -- per process ------------------------------------------------------------------------

    def override_in_process(self, declaration: Declaration, value: object) -> None:
        """From now on, in this process only, ``declaration`` resolves to ``value``.

        The server tells each process what it is this way (a worker's ProcessInfo and broker,
        the master's Supervisor), before anything there resolves it; a forked child starts
        without the parent's overrides.
        """
        provider = self.build(declaration)
        if not isinstance(provider, providers.Provider):
            raise ScopeError(f"{token_name(declaration.token)} is request-scoped: "
                             "a process cannot override it")
        provider.override(providers.Object(value))
        self._process_overrides.append(provider)

    def reset_after_fork(self) -> None:
        """In a forked child: drop the parent's instances, resources and process overrides
        without closing them."""
        for provider in reversed(self._process_overrides):
            provider.reset_last_overriding()
        self._process_overrides = []
        self._abandoned.extend(generator for _, generator in self._teardowns)
        self._teardowns = []
        self._forget_instances()


def _deferred(target: Callable[..., object], *args: object,
              **kwargs: object) -> Callable[[], object]:
    return lambda: target(*args, **kwargs)


def _not_started(name: str) -> object:
    raise ScopeError(f"{name} comes from an async factory: `await app.startup()` first "
                     "(the server does it in every process)")


def _is_async(target: object) -> bool:
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


_containers: weakref.WeakSet[Container] = weakref.WeakSet()


def _reset_containers_in_child() -> None:
    for container in list(_containers):
        container.reset_after_fork()


os.register_at_fork(after_in_child=_reset_containers_in_child)
