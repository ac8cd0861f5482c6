"""RpcLimits: how much one client may ask of a worker through ``/rpc``, from FrameworkConfig."""

from __future__ import annotations

from dataclasses import dataclass

from framework.config import FrameworkConfig


@dataclass(frozen=True)
class RpcLimits:
    """``max_message_size``: bytes of a POST body or WebSocket message (max_body_size);
    ``max_batch``: calls in one batch (rpc_max_batch); ``max_in_flight``: unanswered messages
    on one WebSocket, and calls of one batch running at once (rpc_max_in_flight).
    """

    max_message_size: int
    max_batch: int
    max_in_flight: int

    @classmethod
    def of(cls, config: FrameworkConfig) -> RpcLimits:
        return cls(config.max_body_size, config.rpc_max_batch, config.rpc_max_in_flight)
