"""HTTP and JSON-RPC controllers: built per request, dependencies injected."""

from dataclasses import dataclass
from typing import Annotated

from framework import ProcessInfo, http, rpc

from {{package}}.services import Greeter, VisitCounter


@dataclass
class NewGreeting:
    """The JSON body of POST /greetings, checked before the handler runs (400 if not)."""

    name: Annotated[str, http.Field(min_length=1, max_length=50)]
    times: Annotated[int, http.Field(ge=1, le=3)] = 1


@dataclass
class Greeting:
    messages: list[str]


class GreetingController:
    def __init__(self, greeter: Greeter, process: ProcessInfo) -> None:
        self.greeter = greeter
        self.process = process

    @http.get("/hello/{name}")
    async def hello(self, name: str) -> dict:
        return {"message": self.greeter.greet(name), "worker": self.process.worker_id}

    @http.post("/greetings", status=201)
    async def create(self, new: http.Body[NewGreeting]) -> Greeting:
        return Greeting([self.greeter.greet(new.name)] * new.times)


@rpc.controller("counter")
class CounterRpc:
    """`counter.increment` and `counter.value` over JSON-RPC at /rpc."""

    def __init__(self, counter: VisitCounter, process: ProcessInfo) -> None:
        self.counter = counter
        self.process = process

    @rpc.action
    async def increment(self) -> dict:
        return {"value": await self.counter.increment(), "worker": self.process.worker_id}

    @rpc.action
    async def value(self) -> int:
        return await self.counter.value()
