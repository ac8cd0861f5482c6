"""FrameworkError, one root for every error fw raises; DeclarationError for all declared twice."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import textwrap
from pathlib import Path

import pytest

import framework
from framework import App, FrameworkError, FrameworkModule, Module, http, provide, rpc
from framework.errors import DeclarationError
from framework.testing import create_testing_app
from tests.support import run_fw


def error_classes() -> list[type[BaseException]]:
    """Every exception class defined in a module of the framework package."""
    found: dict[type[BaseException], None] = {}
    for info in pkgutil.walk_packages(framework.__path__, "framework."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__.startswith("framework.")):
                found[value] = None
    return list(found)


def test_every_error_fw_defines_is_a_framework_error() -> None:
    classes = error_classes()
    assert len(classes) >= 20, classes  # the walk found them (ConfigError ... StartupError)
    assert [c.__qualname__ for c in classes if not issubclass(c, FrameworkError)] == []


def test_errors_keep_the_builtin_bases_callers_catch() -> None:
    from framework.broker import LockTimeout
    from framework.broker.protocol import BrokerError
    from framework.config import ConfigError
    from framework.server.sockets import BindError

    assert issubclass(ConfigError, ValueError)
    assert issubclass(LockTimeout, TimeoutError)
    assert issubclass(BrokerError, RuntimeError)
    assert issubclass(BindError, OSError)
    assert issubclass(DeclarationError, TypeError)


class Db:
    pass


class FakeDb(Db):
    pass


def test_a_provider_declared_twice_is_a_declaration_error() -> None:
    with pytest.raises(DeclarationError, match="^App declares Db twice$"):
        App(providers=[Db, provide(Db, use_class=FakeDb)])


class Shop:
    @http.get("/items")
    async def items(self) -> list[str]:
        return []


class Store:
    @http.get("/items")
    async def listing(self) -> list[str]:
        return ["x"]


@rpc.controller("items")
class ItemsRpc:
    @rpc.action
    async def count(self) -> int:
        return 0


@rpc.controller("items")
class MoreItemsRpc:
    @rpc.action
    async def count(self) -> int:
        return 1


class RoutesTwice(Module):
    name = "routes"
    controllers = [Shop, Store]


class RpcTwice(Module):
    name = "rpc_twice"
    controllers = [ItemsRpc, MoreItemsRpc]


@pytest.mark.parametrize(("module", "message"), [
    (RoutesTwice, "^two routes for GET /items: one handler per method and path$"),
    (RpcTwice, "^RPC method items.count is declared twice: by ItemsRpc and MoreItemsRpc$"),
])
async def test_a_route_or_rpc_method_declared_twice_is_a_declaration_error(
        module: type[Module], message: str) -> None:
    testing = create_testing_app(imports=[FrameworkModule(), module()])
    with pytest.raises(FrameworkError, match="^start-up failed: DeclarationError: ") as error:
        async with testing:
            pass
    cause = error.value.__cause__
    assert isinstance(cause, DeclarationError) and re.match(message, str(cause))


def test_fw_names_a_declaration_error_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(textwrap.dedent('''
        from framework import App, provide

        class Db:
            pass

        app = App(providers=[Db, provide(Db, use_value=Db())])
    '''))
    result = run_fw("debug:di", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == ["Error: DeclarationError: App declares Db twice"]


def test_one_except_clause_catches_what_fw_raises() -> None:
    class NeedsDb:
        def __init__(self, db: Db) -> None:
            self.db = db

    caught = []
    for build in (lambda: App(providers=[NeedsDb]),
                  lambda: App(imports=[FrameworkModule(workers=-1)]),
                  lambda: App(providers=[Db, provide(Db, use_value=FakeDb())])):
        try:
            build()
        except FrameworkError as error:
            caught.append(type(error).__name__)
    assert caught == ["MissingDependency", "ConfigError", "DeclarationError"]
