"""HTTP and JSON-RPC controllers: built per request, dependencies injected."""

from framework import ProcessInfo, http, rpc

from {{package}}.services import Greeter, VisitCounter


class GreetingController:
    def __init__(self, greeter: Greeter, process: ProcessInfo) -> None:
        self.greeter = greeter
        self.process = process

    @http.get("/hello/{name}")
    async def hello(self, name: str) -> dict:
        return {"message": self.greeter.greet(name), "worker": self.process.worker_id}


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
