"""The hello example: an HTTP route, a JSON-RPC action and a counter every worker shares.

    cd examples/hello && fw server:start --workers 2
    curl http://127.0.0.1:8080/hello/world
    curl -X POST http://127.0.0.1:8080/visits
    curl -d '{"jsonrpc": "2.0", "method": "greeter.greet", "params": ["Ada"], "id": 1}' \\
         http://127.0.0.1:8080/rpc
"""

from framework import App, FrameworkModule, Module, ProcessInfo, http, rpc
from framework.broker import BrokerKeyValue


class Greeter:
    """A service: built once per process, injected wherever it is asked for."""

    def greet(self, name: str) -> str:
        return f"Hello, {name}!"


class HelloController:
    def __init__(self, greeter: Greeter, process: ProcessInfo, visits: BrokerKeyValue) -> None:
        self.greeter = greeter
        self.process = process
        self.visits = visits

    @http.get("/hello/{name}")
    async def hello(self, name: str, shout: bool = False) -> dict:
        message = self.greeter.greet(name)
        return {"message": message.upper() if shout else message,
                "worker": self.process.worker_id}

    @http.post("/visits")
    async def visit(self) -> dict:
        return {"visits": await self.visits.increment("visits"),
                "worker": self.process.worker_id}


@rpc.controller("greeter")
class GreeterRpc:
    def __init__(self, greeter: Greeter) -> None:
        self.greeter = greeter

    @rpc.action
    async def greet(self, name: str) -> str:
        return self.greeter.greet(name)


class HelloModule(Module):
    name = "hello"
    providers = [Greeter]
    controllers = [HelloController, GreeterRpc]


app = App(imports=[FrameworkModule(), HelloModule()], name="hello").load_config_from_env()

if __name__ == "__main__":
    app.run()
