"""The app's tests: served in one process, with the memory broker, whatever `workers` says."""

from framework import FrameworkModule
from framework.testing import create_testing_app

from {{package}}.config import AppConfig
from {{package}}.module import MainModule
from {{package}}.services import Greeter


def make_testing_app():
    return create_testing_app(config=AppConfig,
                              imports=[FrameworkModule(workers=4), MainModule()])


def test_greeter_uses_the_configured_greeting():
    testing = make_testing_app()
    assert testing.get(Greeter).greet("Ada") == "Hello, Ada!"


async def test_hello_route():
    testing = make_testing_app()
    async with testing:
        response = await testing.client.get("/hello/world")
        assert response.status == 200
        assert (await response.json())["message"] == "Hello, world!"


async def test_greetings_take_a_typed_body():
    testing = make_testing_app()
    async with testing:
        response = await testing.client.post("/greetings", json={"name": "Ada", "times": 2})
        assert response.status == 201
        assert await response.json() == {"messages": ["Hello, Ada!", "Hello, Ada!"]}
        refused = await testing.client.post("/greetings", json={"name": "Ada", "times": 9})
        assert refused.status == 400
        assert [error["field"] for error in (await refused.json())["errors"]] == ["times"]


async def test_counter_counts_over_rpc():
    testing = make_testing_app()
    async with testing:
        async with testing.rpc_client() as client:
            counter = client.controller("counter")
            await counter.increment()
            second = await counter.increment()
            assert second["value"] == 2
            assert await counter.value() == 2
