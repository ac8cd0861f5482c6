"""ServiceUnavailable: a service a request needs is down or not answering.

HTTP answers it with 503 and RPC with SERVICE_UNAVAILABLE (-32001), both naming the service,
instead of a 500 and a traceback per request. It lives on its own so that http and rpc can
catch it without importing the broker (or whatever else raises it).
"""

from __future__ import annotations

from framework.errors import FrameworkError


class ServiceUnavailable(FrameworkError):
    """``service`` (e.g. "broker") at ``address`` (no credentials) failed with ``reason``."""

    def __init__(self, service: str, address: str, reason: str) -> None:
        super().__init__(f"the {service} at {address} is unavailable: {reason}")
        self.service = service
        self.address = address
        self.reason = reason

    def to_json(self) -> dict[str, str]:
        """What clients are told besides the message: which service, where."""
        return {"service": self.service, "address": self.address}
