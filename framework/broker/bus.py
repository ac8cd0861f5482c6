"""BrokerBus: publish JSON messages on named channels to every subscriber in every process."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

from framework.broker.adapter import BrokerAdapter
from framework.broker.codec import check_name, decode
from framework.broker.facades import BrokerFacade

logger = logging.getLogger("framework.broker")


class Subscription:
    """Messages of one channel for one subscriber: ``subscribe(handler)`` or ``async for``.

    Messages arrive in each publisher's order; handlers run one message at a time.
    """

    def __init__(self, adapter: BrokerAdapter, channel: str) -> None:
        self.channel = channel
        self._adapter = adapter
        self._inbox: asyncio.Queue[str | None] = asyncio.Queue()  # payloads; None: the end
        self._handlers: list[Callable[[Any], object]] = []
        self._pump: asyncio.Task[None] | None = None
        self._active = True

    def deliver(self, payload: str) -> None:
        self._inbox.put_nowait(payload)

    def subscribe(self, handler: Callable[[Any], object]) -> None:
        """Call ``handler(message)`` (sync or async) for every message from now on."""
        self._handlers.append(handler)
        if self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(self._run_handlers())

    async def unsubscribe(self) -> None:
        """Stop receiving; messages already delivered to this process are still handled."""
        if self._active:
            self._active = False
            await self._adapter.unsubscribe(self.channel, self.deliver)
            self._inbox.put_nowait(None)

    async def _run_handlers(self) -> None:
        while (payload := await self._inbox.get()) is not None:
            for handler in list(self._handlers):
                try:
                    result = handler(decode(payload))
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    logger.exception("subscriber of channel %r failed", self.channel)

    def __aiter__(self) -> Subscription:
        if self._handlers:
            raise RuntimeError(f"subscription to {self.channel!r} has handlers; "
                               "use either subscribe(handler) or async for, not both")
        return self

    async def __anext__(self) -> Any:
        payload = await self._inbox.get()
        if payload is None:
            raise StopAsyncIteration
        return decode(payload)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.unsubscribe()


class BrokerBus(BrokerFacade):
    """Channels of messages: every subscriber, in every process, gets each message once."""

    kind = "bus"

    async def publish(self, channel: str, message: object) -> None:
        """Send ``message`` (JSON-compatible) to the channel's subscribers."""
        check_name(channel, "channel")
        self._operations.count("publish")
        await self._adapter.publish(channel,
                                    self._encode(message, f"message for channel {channel!r}"))

    async def subscribe(self, channel: str) -> Subscription:
        """A subscription receiving every message published on ``channel`` after it returns."""
        check_name(channel, "channel")
        self._operations.count("subscribe")
        subscription = Subscription(self._adapter, channel)
        await self._adapter.subscribe(channel, subscription.deliver)
        return subscription
