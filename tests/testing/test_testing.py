"""create_testing_app: overrides, get(), serving in one process, the broker it uses."""

from __future__ import annotations

import os

import pytest
import redis.asyncio

from framework import (
    FrameworkConfig,
    FrameworkModule,
    Module,
    ProcessInfo,
    event_dispatcher,
    http,
    provide,
    rpc,
)
from framework.broker import BrokerKeyValue
from framework.events import ServerEvent, on_server_main_bootstrap, on_server_main_shutdown
from framework.testing import create_testing_app


class Db:
    def user(self, id: int) -> dict:
        raise RuntimeError("the real database is not reachable from tests")


class FakeDb(Db):
    def user(self, id: int) -> dict:
        return {"id": id, "name": "fake"}


class UserService:
    def __init__(self, db: Db) -> None:
        self.db = db


class Lifecycle:
    """Records the server events the testing app fires."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @event_dispatcher.listen(on_server_main_bootstrap)
    def booted(self, event: ServerEvent) -> None:
        self.seen.append("bootstrap")

    @event_dispatcher.listen(on_server_main_shutdown)
    def stopped(self, event: ServerEvent) -> None:
        self.seen.append("shutdown")


class UserController:
    def __init__(self, users: UserService, process: ProcessInfo, kv: BrokerKeyValue) -> None:
        self.users = users
        self.process = process
        self.kv = kv

    @http.get("/users/{id}")
    async def get_user(self, id: int) -> dict:
        return self.users.db.user(id)

    @http.get("/where")
    async def where(self) -> dict:
        return {"pid": self.process.pid, "worker_id": self.process.worker_id}

    @http.post("/visits")
    async def visit(self) -> dict:
        return {"visits": await self.kv.increment("visits")}


@rpc.controller("users")
class UsersRpc:
    def __init__(self, users: UserService) -> None:
        self.users = users

    @rpc.action
    async def get(self, id: int) -> dict:
        return self.users.db.user(id)


class UserModule(Module):
    name = "users"
    providers = [Db, UserService, Lifecycle]
    controllers = [UserController, UsersRpc]
    listeners = [Lifecycle]


def make(**framework_options: object):
    return create_testing_app(imports=[FrameworkModule(**framework_options), UserModule()],
                              providers=[provide(Db, use_value=FakeDb())])


def test_get_resolves_with_the_overrides_and_the_config_as_given() -> None:
    testing = make(workers=4)
    assert isinstance(testing.get(UserService).db, FakeDb)
    assert testing.get(FrameworkConfig).workers == 4


async def test_serves_in_this_process_whatever_workers_says() -> None:
    testing = make(workers=4)
    async with testing:
        response = await testing.client.get("/users/3")
        assert (response.status, await response.json()) == (200, {"id": 3, "name": "fake"})
        response = await testing.client.get("/where")
        assert await response.json() == {"pid": os.getpid(), "worker_id": None}
        assert testing.url.startswith("http://127.0.0.1:")


async def test_rpc_client_reaches_the_served_app() -> None:
    testing = make()
    async with testing:
        users = testing.rpc_client().controller("users")
        assert await users.get(id=5) == {"id": 5, "name": "fake"}


async def test_server_events_fire_around_serving() -> None:
    testing = make()
    lifecycle = testing.get(Lifecycle)
    async with testing:
        assert lifecycle.seen == ["bootstrap"]
    assert lifecycle.seen == ["bootstrap", "shutdown"]


async def test_each_testing_app_has_a_memory_broker_of_its_own() -> None:
    for _ in range(2):
        testing = make()
        async with testing:
            for expected in (1, 2):
                response = await testing.client.post("/visits")
                assert await response.json() == {"visits": expected}
            assert await testing.get(BrokerKeyValue).get("visits") == 2


async def test_a_broker_url_puts_the_broker_on_redis(redis_url: str) -> None:
    testing = make(broker_url=redis_url)
    async with testing:
        response = await testing.client.post("/visits")
        visits = (await response.json())["visits"]
    client = redis.asyncio.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter("*visits*")]
        assert keys, "the counter is not in Redis"
        assert int(await client.get(keys[0])) == visits
    finally:
        await client.aclose()


class BrokenBootstrap:
    @event_dispatcher.listen(on_server_main_bootstrap)
    def connect(self, event: ServerEvent) -> None:
        raise ConnectionError("cache server unreachable")


class BrokenModule(Module):
    name = "broken"
    listeners = [BrokenBootstrap]


async def test_a_failing_bootstrap_listener_makes_async_with_raise() -> None:
    testing = create_testing_app(imports=[FrameworkModule(), UserModule(), BrokenModule()])
    with pytest.raises(Exception, match="cache server unreachable"):
        async with testing:
            pass


async def test_client_outside_async_with_is_a_clear_error() -> None:
    testing = make()
    with pytest.raises(RuntimeError, match="async with testing"):
        _ = testing.client
    with pytest.raises(RuntimeError, match="async with testing"):
        testing.rpc_client()


def test_fw_is_a_pytest_plugin(pytestconfig: pytest.Config) -> None:
    import framework.testing

    assert pytestconfig.pluginmanager.is_registered(framework.testing)
