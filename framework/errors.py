"""FrameworkError, the root of every error fw raises; DeclarationError; ServiceUnavailable.

Each fw error also keeps the built-in base its callers know (ConfigError is a ValueError,
LockTimeout a TimeoutError), so ``except FrameworkError`` catches everything fw raises and
the narrower ``except`` clauses keep working.

ServiceUnavailable lives here, at the root, so that http and rpc can answer it (503, and
RPC's SERVICE_UNAVAILABLE -32001, both naming the service, instead of a 500 and a traceback
per request) without importing the broker, or whatever else raises it.
"""

from __future__ import annotations

__all__ = ["DeclarationError", "FrameworkError", "ServiceUnavailable"]


class FrameworkError(Exception):
    """Something fw refused or could not do; the message says what, and what to do next."""


class DeclarationError(FrameworkError, TypeError):
    """The app declares one thing twice: a provider token, a route, an RPC method."""


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
