"""``fw debug:routes``, ``fw debug:di`` and ``fw debug:config``, run as subprocesses on the
example app and on an app with module providers of every scope and kind."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from framework import FrameworkConfig
from tests.support import REPO, run_fw

FRAMEWORK_FIELDS = len(dataclasses.fields(FrameworkConfig))

HELLO = REPO / "examples" / "hello"

SHOP_APP = '''
from dataclasses import dataclass
from pathlib import Path

from framework import App, FrameworkModule, Module, http, provide, rpc


@dataclass
class AppConfig:
    greeting: str = "Hello"


@dataclass
class StoreConfig:
    path: str = "store.db"
    page_size: int = 20
    db_password: str = ""


class Clock:
    pass


class SystemClock(Clock):
    pass


class Db:
    pass


def open_db(config: StoreConfig):
    Path("db-opened").write_text("a debug command must not build services")
    yield Db()


class Cache:
    pass


async def make_cache() -> Cache:
    return Cache()


class Feed:
    pass


async def open_feed():
    yield Feed()


class Settings:
    pass


def load_settings() -> Settings:
    return Settings()


class Stamp:
    pass


class Visit:
    pass


class Repo:
    def __init__(self, db: Db, clock: Clock) -> None:
        self.db = db


class ItemsController:
    def __init__(self, repo: Repo, visit: Visit) -> None:
        self.repo = repo

    @http.get("/items/{id}")
    async def show(self, id: int) -> dict:
        return {"id": id}

    @http.put("/items")
    @http.post("/items")
    async def save(self) -> dict:
        return {}


@rpc.controller("items")
class ItemsRpc:
    @rpc.action
    async def count(self) -> int:
        return 0


class StoreModule(Module):
    name = "store"
    config = StoreConfig
    providers = [Repo, provide(Clock, use_class=SystemClock), provide(Db, use_factory=open_db),
                 provide(Cache, use_factory=make_cache), provide(Feed, use_factory=open_feed),
                 provide(Settings, use_factory=load_settings, scope="transient"),
                 provide(Stamp, scope="transient"), provide(Visit, scope="request"),
                 provide("motto", use_value="keep shipping"),
                 provide("api_token", use_value="s3cret")]
    controllers = [ItemsController, ItemsRpc]
    exports = [Repo]


app = App(config=AppConfig, imports=[FrameworkModule(workers=3), StoreModule(page_size=50)],
          providers=[provide(Clock, use_value=SystemClock())], name="shop")
'''

EMPTY_APP = '''
from framework import App, FrameworkModule

app = App(imports=[FrameworkModule()])
'''


def debug(command: str, cwd: Path, env: dict[str, str] | None = None) -> list[str]:
    result = run_fw(command, cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.splitlines()


def table(lines: list[str]) -> list[dict[str, str]]:
    """The rows of a printed table as dicts, cut at the columns the header line shows."""
    header = lines[0]
    names = header.split()
    starts = [header.index(f"{name} " if name != names[-1] else name) for name in names]
    ends = [*starts[1:], None]
    rows = []
    for line in lines[1:]:
        if not line:
            break
        rows.append({name: line[start:end].strip()
                     for name, start, end in zip(names, starts, ends, strict=True)})
    return rows


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(SHOP_APP)
    return tmp_path


def test_routes_of_the_example_app() -> None:
    assert debug("debug:routes", HELLO) == [
        "method  path           controller       handler  parameters",
        "GET     /hello/{name}  HelloController  hello    "
        "name: str (path); shout: bool = False (query)",
        "POST    /visits        HelloController  visit",
        "RPC     greeter.greet  GreeterRpc       greet",
        "",
        "RPC actions are called over POST /rpc and the WebSocket at GET /rpc.",
    ]


def test_providers_of_the_example_app() -> None:
    lines = debug("debug:di", HELLO)
    assert lines[0].split() == ["module", "provider", "scope", "kind", "from", "visibility"]
    rows = [line.split() for line in lines[1:]]
    assert rows[-3:] == [
        ["HelloModule", "Greeter", "singleton", "class", "Greeter", "private"],
        ["HelloModule", "HelloController", "request", "class", "HelloController", "private"],
        ["HelloModule", "GreeterRpc", "request", "class", "GreeterRpc", "private"],
    ]
    assert ["FrameworkModule", "FrameworkConfig", "singleton", "config", "FrameworkConfig",
            "global"] in rows
    assert ["FrameworkModule", "ProcessInfo", "transient", "factory", "process_info()",
            "exported"] in rows
    assert ["FrameworkModule", "BrokerKeyValue", "singleton", "class", "BrokerKeyValue",
            "exported"] in rows


def test_config_of_the_example_app() -> None:
    lines = debug("debug:config", HELLO, env={"APP_FRAMEWORK_WORKERS": "2"})
    assert lines[0].split() == ["module", "field", "value", "source"]
    rows = [line.split() for line in lines[1:]]
    assert len(rows) == FRAMEWORK_FIELDS and all(row[0] == "framework" for row in rows)
    assert ["framework", "workers", "2", "env", "APP_FRAMEWORK_WORKERS"] in rows
    assert ["framework", "port", "8080", "default"] in rows
    assert ["framework", "broker_url", "''", "default"] in rows


def test_routes_split_controller_and_handler(shop: Path) -> None:
    rows = table(debug("debug:routes", shop))
    assert rows == [
        {"method": "GET", "path": "/items/{id}", "controller": "ItemsController",
         "handler": "show", "parameters": "id: int (path)"},
        {"method": "POST", "path": "/items", "controller": "ItemsController", "handler": "save",
         "parameters": ""},
        {"method": "PUT", "path": "/items", "controller": "ItemsController", "handler": "save",
         "parameters": ""},
        {"method": "RPC", "path": "items.count", "controller": "ItemsRpc", "handler": "count",
         "parameters": ""},
    ]


def test_an_app_without_controllers_says_it_has_no_routes(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(EMPTY_APP)
    assert debug("debug:routes", tmp_path) == [
        "method  path  controller  handler  parameters",
        "",
        "No routes: the app's modules declare no controllers.",
    ]


def test_providers_of_every_scope_and_kind(shop: Path) -> None:
    rows = table(debug("debug:di", shop))
    store = [row for row in rows if row["module"] == "StoreModule"]
    row = {"module": "StoreModule", "scope": "singleton", "visibility": "private"}
    assert store == [
        {**row, "provider": "StoreConfig", "kind": "config", "from": "StoreConfig",
         "visibility": "global"},
        {**row, "provider": "Repo", "kind": "class", "from": "Repo", "visibility": "exported"},
        {**row, "provider": "Clock", "kind": "class", "from": "SystemClock",
         "visibility": "overridden"},
        {**row, "provider": "Db", "kind": "resource", "from": "open_db()"},
        {**row, "provider": "Cache", "kind": "async factory", "from": "make_cache()"},
        {**row, "provider": "Feed", "kind": "async resource", "from": "open_feed()"},
        {**row, "provider": "Settings", "scope": "transient", "kind": "factory",
         "from": "load_settings()"},
        {**row, "provider": "Stamp", "scope": "transient", "kind": "class", "from": "Stamp"},
        {**row, "provider": "Visit", "scope": "request", "kind": "class", "from": "Visit"},
        {**row, "provider": "'motto'", "kind": "value", "from": "'keep shipping'"},
        {**row, "provider": "'api_token'", "kind": "value", "from": "'***'"},
        {**row, "provider": "ItemsController", "scope": "request", "kind": "class",
         "from": "ItemsController"},
        {**row, "provider": "ItemsRpc", "scope": "request", "kind": "class", "from": "ItemsRpc"},
    ]
    assert [row for row in rows if row["module"] == "App"] == [
        {"module": "App", "provider": "AppConfig", "scope": "singleton", "kind": "config",
         "from": "AppConfig", "visibility": "global"},
        {"module": "App", "provider": "Clock", "scope": "singleton", "kind": "value",
         "from": "SystemClock()", "visibility": "global"},
    ]
    assert {"module": "FrameworkModule", "provider": "ProcessInfo", "scope": "transient",
            "kind": "factory", "from": "process_info()", "visibility": "exported"} in rows
    assert not (shop / "db-opened").exists()


def test_config_values_with_their_sources(shop: Path) -> None:
    (shop / ".env").write_text("APP_FRAMEWORK_PORT=9123\n")
    rows = table(debug("debug:config", shop, env={
        "APP_GREETING": "Hey", "APP_STORE_DB_PASSWORD": "hunter2",
        "APP_FRAMEWORK_BROKER_URL": "redis://shop:hunter2@127.0.0.1:6379/0"}))
    assert len([row for row in rows if row["module"] == "framework"]) == FRAMEWORK_FIELDS
    assert {"module": "framework", "field": "workers", "value": "3", "source": "option"} in rows
    assert {"module": "framework", "field": "port", "value": "9123",
            "source": "env APP_FRAMEWORK_PORT"} in rows
    assert {"module": "framework", "field": "host", "value": "'127.0.0.1'",
            "source": "default"} in rows
    assert {"module": "framework", "field": "broker_url",
            "value": "'redis://shop:***@127.0.0.1:6379/0'",
            "source": "env APP_FRAMEWORK_BROKER_URL"} in rows
    assert [row for row in rows if row["module"] != "framework"] == [
        {"module": "store", "field": "path", "value": "'store.db'", "source": "default"},
        {"module": "store", "field": "page_size", "value": "50", "source": "option"},
        {"module": "store", "field": "db_password", "value": "'***'",
         "source": "env APP_STORE_DB_PASSWORD"},
        {"module": "(app)", "field": "greeting", "value": "'Hey'", "source": "env APP_GREETING"},
    ]

