"""JSON-RPC 2.0 at ``/rpc`` over HTTP POST and WebSocket, and RpcClient.

    @rpc.controller("users")
    class UsersRpc:
        @rpc.action
        async def get(self, id: int) -> dict: ...     # called as "users.get"
"""

from framework.rpc.actions import action, controller
from framework.rpc.client import RpcClient
from framework.rpc.errors import RpcError

__all__ = ["RpcClient", "RpcError", "action", "controller"]
