"""Which adapter this process uses: Redis by broker_url, the pipe in a worker, else memory.

Each process has its own engine and adapter: state made before a fork is not reused by the
child (the pid is checked), so a worker never talks to a copy of the master's engine.
"""

from __future__ import annotations

import os
from typing import Any

from framework.broker.adapter import BrokerAdapter
from framework.broker.engine import BrokerEngine
from framework.broker.memory import MemoryAdapter

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

_pid = 0
_engine: BrokerEngine | None = None
_adapters: dict[str, BrokerAdapter] = {}


def _this_process() -> None:
    global _pid, _engine, _adapters
    if _pid != os.getpid():
        _pid, _engine, _adapters = os.getpid(), None, {}


def local_engine() -> BrokerEngine:
    """This process's engine: the master's is the one its BrokerHost serves to workers."""
    global _engine
    _this_process()
    if _engine is None:
        _engine = BrokerEngine()
    return _engine


def use_adapter(adapter: BrokerAdapter) -> None:
    """From now on, facades of this process without a broker_url use ``adapter``."""
    _this_process()
    _adapters[""] = adapter


def adapter_for_process(config: Any) -> BrokerAdapter:
    """The adapter for ``config.broker_url`` in this process (one per process and url)."""
    url = getattr(config, "broker_url", "") or ""
    if url and not url.startswith(REDIS_SCHEMES):
        raise ValueError(f"broker_url must start with redis://, rediss:// or unix://, "
                         f"or be empty for the built-in broker; got {url!r}")
    _this_process()
    adapter = _adapters.get(url)
    if adapter is None:
        if url:
            from framework.broker.redis_adapter import RedisAdapter
            adapter = RedisAdapter(url)
        else:
            adapter = MemoryAdapter(local_engine())
        _adapters[url] = adapter
    return adapter
