"""The adapter a broker_url selects: Redis for a redis:// url, else memory on its own engine.

FrameworkModule's BrokerAdapter provider calls it: a singleton, so each App's container makes
one per process (a forked child drops its parent's and makes its own). A worker is told
otherwise after the fork: its container's BrokerAdapter is its pipe to the master, and the
master serves the engine of its own memory adapter (see server/worker.py and master.py).
"""

from __future__ import annotations

from framework.broker.adapter import BrokerAdapter
from framework.broker.engine import BrokerEngine
from framework.broker.memory import MemoryAdapter
from framework.config import FrameworkConfig


def broker_adapter(config: FrameworkConfig) -> BrokerAdapter:
    """A new adapter for ``config.broker_url`` (FrameworkConfig checked its syntax): Redis, or
    an empty memory broker when unset."""
    if config.broker_url:
        from framework.broker.redis_adapter import RedisAdapter
        return RedisAdapter(config.broker_url)
    return MemoryAdapter(BrokerEngine())
