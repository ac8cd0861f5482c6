"""`create_testing_app(imports=[AppModule()])` as DESIGN.md writes it: the testing app brings
FrameworkModule itself when the imports lack it, and keeps the one they bring."""

from __future__ import annotations

from framework import FrameworkConfig, FrameworkModule, Module, ProcessInfo, http
from framework.broker import BrokerKeyValue
from framework.testing import create_testing_app


class VisitCounter:
    def __init__(self, kv: BrokerKeyValue) -> None:
        self.kv = kv

    async def visit(self) -> int:
        return await self.kv.increment("visits")


class VisitController:
    def __init__(self, counter: VisitCounter, process: ProcessInfo) -> None:
        self.counter = counter
        self.process = process

    @http.post("/visits")
    async def visit(self) -> dict:
        return {"visits": await self.counter.visit(), "worker_id": self.process.worker_id}


class AppModule(Module):
    name = "app"
    providers = [VisitCounter]
    controllers = [VisitController]


class ServicesModule(Module):
    """A module that brings FrameworkModule (with options) itself."""

    name = "services"
    imports = [FrameworkModule(workers=3)]
    exports = [FrameworkModule]


async def test_the_documented_form_serves_with_the_framework_services() -> None:
    testing = create_testing_app(imports=[AppModule()])
    assert testing.get(FrameworkConfig).workers == 0
    async with testing:
        replies = [await (await testing.client.post("/visits")).json() for _ in range(2)]
    assert replies == [{"visits": 1, "worker_id": None}, {"visits": 2, "worker_id": None}]


def test_framework_module_given_in_the_imports_is_the_one_used() -> None:
    testing = create_testing_app(imports=[FrameworkModule(workers=4), AppModule()])
    assert testing.get(FrameworkConfig).workers == 4


def test_framework_module_imported_by_a_module_is_the_one_used() -> None:
    testing = create_testing_app(imports=[ServicesModule(), AppModule])
    assert testing.get(FrameworkConfig).workers == 3
