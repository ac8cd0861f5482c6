"""The broker: bus, cache, key-values, locks and queues shared by every process of an app.

Facades over one adapter per process: memory (one process, or the master's own engine),
pipe (a worker talking to the master's BrokerHost) or Redis (``broker_url="redis://..."``).
"""

from framework.broker.adapter import BrokerAdapter
from framework.broker.bus import BrokerBus, Subscription
from framework.broker.facades import (
    BrokerCache,
    BrokerKeyValue,
    BrokerLock,
    BrokerQueue,
    HeldLock,
    LockTimeout,
    QueueConsumer,
)
from framework.broker.host import BrokerHost
from framework.broker.outage import BrokerUnavailable
from framework.broker.selection import broker_adapter

__all__ = [
    "BrokerAdapter", "BrokerBus", "BrokerCache", "BrokerHost", "BrokerKeyValue", "BrokerLock",
    "BrokerQueue", "BrokerUnavailable", "HeldLock", "LockTimeout", "QueueConsumer", "Subscription",
    "broker_adapter",
]
