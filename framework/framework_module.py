"""FrameworkModule: the framework's own settings and services, visible to every module."""

from __future__ import annotations

from framework.broker import (
    BrokerAdapter,
    BrokerBus,
    BrokerCache,
    BrokerKeyValue,
    BrokerLock,
    BrokerQueue,
    adapter_for_process,
)
from framework.config import FrameworkConfig
from framework.di.provider import provide
from framework.module import Module
from framework.process import ProcessInfo, process_info
from framework.server.supervisor import Supervisor


def broker_adapter(config: FrameworkConfig) -> BrokerAdapter:
    """This process's broker adapter: Redis by broker_url, pipes in a worker, else memory."""
    return adapter_for_process(config)


_BROKER_FACADES = [BrokerBus, BrokerCache, BrokerKeyValue, BrokerLock, BrokerQueue]


class FrameworkModule(Module):
    """Provides FrameworkConfig, ProcessInfo, the broker and (for master-side code) Supervisor.

    ``FrameworkModule(workers=4)`` sets FrameworkConfig fields.
    """

    name = "framework"
    config = FrameworkConfig
    providers = [
        provide(ProcessInfo, use_factory=process_info, scope="transient"),
        provide(BrokerAdapter, use_factory=broker_adapter),
        *_BROKER_FACADES,
        Supervisor,
    ]
    exports = [ProcessInfo, BrokerAdapter, *_BROKER_FACADES, Supervisor]
