"""Services: plain classes whose constructors the container fills from type hints."""

from framework.broker import BrokerKeyValue

from {{package}}.config import AppConfig


class Greeter:
    """Builds greetings with the configured word."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config

    def greet(self, name: str) -> str:
        return f"{self.config.greeting}, {name}!"


class VisitCounter:
    """A counter shared by every worker: the broker's key-value store increments atomically."""

    key = "visits"

    def __init__(self, kv: BrokerKeyValue) -> None:
        self.kv = kv

    async def increment(self) -> int:
        return await self.kv.increment(self.key)

    async def value(self) -> int:
        return await self.kv.get(self.key) or 0
