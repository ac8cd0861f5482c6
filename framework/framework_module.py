"""FrameworkModule: the framework's own settings and services, visible to every module."""

from __future__ import annotations

from framework.broker import (
    BrokerAdapter,
    BrokerBus,
    BrokerCache,
    BrokerKeyValue,
    BrokerLock,
    BrokerQueue,
    broker_adapter,
)
from framework.config import FrameworkConfig
from framework.di.provider import provide
from framework.metrics import Metrics
from framework.module import Module
from framework.process import ProcessInfo, process_info
from framework.server.master.supervisor import Supervisor, supervisor_of_this_process

_BROKER_FACADES = [BrokerBus, BrokerCache, BrokerKeyValue, BrokerLock, BrokerQueue]


class FrameworkModule(Module):
    """Provides FrameworkConfig, ProcessInfo, the broker, Metrics and (for master-side code)
    Supervisor.

    ``FrameworkModule(workers=4)`` sets FrameworkConfig fields. ProcessInfo, BrokerAdapter and
    Supervisor are per process: the server overrides them in each process's container with
    what that process is (a worker's role and pipe, the master's Supervisor). Metrics is a
    singleton, so each process builds its own after the fork.
    """

    name = "framework"
    config = FrameworkConfig
    providers = [
        provide(ProcessInfo, use_factory=process_info, scope="transient"),
        provide(BrokerAdapter, use_factory=broker_adapter),
        *_BROKER_FACADES,
        provide(Supervisor, use_factory=supervisor_of_this_process),
        Metrics,
    ]
    exports = [ProcessInfo, BrokerAdapter, *_BROKER_FACADES, Supervisor, Metrics]
