"""Modules: private providers, imports, exports, root overrides, options."""

import dataclasses
from dataclasses import dataclass

import pytest

from framework import App, FrameworkConfig, FrameworkModule, Module, ProcessInfo, provide
from framework.broker import BrokerKeyValue
from framework.config import ConfigError
from framework.di.errors import MissingDependency
from framework.errors import DeclarationError
from framework.server.master.supervisor import Supervisor


class Db:
    name = "real"


class FakeDb(Db):
    name = "fake"


class Mailer:
    pass


class Users:
    def __init__(self, db: Db) -> None:
        self.db = db


class Reports:
    def __init__(self, db: Db) -> None:
        self.db = db


class DbModule(Module):
    providers = [Db, Mailer]
    exports = [Db]


class UsersModule(Module):
    providers = [Users]
    imports = [DbModule()]
    exports = [Users]


def test_an_import_sees_what_the_imported_module_exports() -> None:
    app = App(imports=[UsersModule()])
    assert isinstance(app.get(Users).db, Db)


def test_exports_reach_the_root_and_so_every_module() -> None:
    class ReportsModule(Module):
        providers = [Reports]

    app = App(imports=[DbModule(), ReportsModule()])
    assert app.get(Reports).db is app.get(Db)


def test_a_private_provider_is_not_visible_to_the_importer() -> None:
    class NeedsMailer:
        def __init__(self, mailer: Mailer) -> None:
            self.mailer = mailer

    class ShopModule(Module):
        providers = [NeedsMailer]
        imports = [DbModule()]

    with pytest.raises(MissingDependency) as error:
        App(imports=[ShopModule()])
    assert str(error.value) == ("NeedsMailer -> Mailer: no provider for Mailer "
                                "(declared in ShopModule? exported by DbModule?)")


def test_a_module_uses_its_own_private_providers() -> None:
    class Sender:
        def __init__(self, mailer: Mailer) -> None:
            self.mailer = mailer

    class SenderModule(Module):
        providers = [Mailer, Sender]

    app = App(imports=[SenderModule()])
    assert isinstance(app.get(Sender).mailer, Mailer)


def test_the_root_provider_overrides_an_imported_one_everywhere() -> None:
    fake = FakeDb()
    app = App(imports=[UsersModule()], providers=[provide(Db, use_value=fake)])
    assert app.get(Users).db is fake
    assert app.get(Db) is fake


def test_re_exporting_an_imported_module() -> None:
    class StorageModule(Module):
        imports = [DbModule()]
        exports = [DbModule]

    class ReportsModule(Module):
        providers = [Reports]
        imports = [StorageModule()]

    assert App(imports=[ReportsModule()]).get(Reports).db.name == "real"


def test_exporting_what_a_module_does_not_have_is_an_error() -> None:
    class Liar(Module):
        exports = [Db]

    with pytest.raises(ConfigError, match="^Liar exports Db but neither provides nor imports it$"):
        App(imports=[Liar()])


def test_module_options_set_config_fields() -> None:
    app = App(imports=[FrameworkModule(workers=4, graceful_shutdown_timeout=5)])
    config = app.get(FrameworkConfig)
    assert (config.workers, config.graceful_shutdown_timeout, config.port) == (4, 5, 8080)


def test_an_unknown_option_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as error:
        FrameworkModule(wrkers=4)
    valid = ", ".join(field.name for field in dataclasses.fields(FrameworkConfig))
    assert str(error.value) == f"unknown option wrkers for FrameworkModule; valid options: {valid}"
    assert "workers, graceful_shutdown_timeout" in valid


def test_a_module_without_config_takes_no_options() -> None:
    with pytest.raises(ConfigError, match="^DbModule has no config class, so it takes no "
                                          "options; got size$"):
        DbModule(size=3)


@dataclass
class ShopConfig:
    currency: str = "EUR"


class ShopModule(Module):
    name = "shop"
    config = ShopConfig


class Prices:
    def __init__(self, config: ShopConfig) -> None:
        self.config = config


def test_a_module_config_is_injectable_by_type() -> None:
    app = App(imports=[ShopModule(currency="USD")], providers=[Prices])
    assert app.get(Prices).config.currency == "USD"


def test_framework_module_provides_process_info_broker_and_supervisor() -> None:
    app = App(imports=[FrameworkModule()])
    info = app.get(ProcessInfo)
    assert info.is_master and not info.is_worker and info.worker_id is None
    assert app.get(BrokerKeyValue) is app.get(BrokerKeyValue)
    assert app.get(Supervisor).workers == []  # one process: no workers to supervise


def test_controllers_and_middlewares_of_the_whole_tree() -> None:
    class Ping:
        pass

    class Pong:
        pass

    async def timing(request, handler):  # noqa: ANN001, ANN201
        return await handler(request)

    class PingModule(Module):
        controllers = [Ping]
        middlewares = [timing]

    app = App(imports=[PingModule()], controllers=[Pong])
    assert app.controllers == [Ping, Pong]
    assert app.middlewares == [timing]
    with app.request_scope():
        assert isinstance(app.get(Ping), Ping)


def test_a_module_class_in_imports_is_instantiated() -> None:
    assert isinstance(App(imports=[UsersModule]).get(Users), Users)


def test_a_token_declared_twice_in_one_module_is_an_error() -> None:
    with pytest.raises(DeclarationError, match="^App declares Db twice$"):
        App(providers=[Db, provide(Db, use_class=FakeDb)])
