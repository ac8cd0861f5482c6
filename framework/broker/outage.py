"""BrokerUnavailable: the broker is down, silent past its timeouts, or its master is gone.

One class for every transport, so HTTP answers 503 and RPC -32001 naming the broker, and
callers catch one thing; ``REDIS_OUTAGES`` are the redis-py errors that mean exactly that.
"""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from framework.broker.protocol import BrokerError
from framework.errors import ServiceUnavailable

# Redis refused, dropped or did not answer in time (not: the call was wrong).
REDIS_OUTAGES = (RedisConnectionError, RedisTimeoutError)


class BrokerUnavailable(BrokerError, ServiceUnavailable):
    """The broker at ``address`` could not be reached; the call may be retried later."""

    def __init__(self, address: str, reason: str) -> None:
        ServiceUnavailable.__init__(self, "broker", address, reason)
