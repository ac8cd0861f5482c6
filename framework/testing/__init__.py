"""create_testing_app: the app served in this process, on a free loopback port, for tests.

The testing app always serves from one process, whatever ``workers`` says, with the memory
broker unless a ``broker_url`` is given, firing the events of both roles (master and worker)
as ``workers=0`` does, so app code written for workers is tested as is. It imports
FrameworkModule itself when the app's imports lack it.
This module is also fw's pytest plugin (entry point ``fw``): it imports nothing heavy until a
testing app is made, so loading it costs a pytest run nothing.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiohttp import web
    from aiohttp.test_utils import TestClient

    from framework.app import App
    from framework.module import Module
    from framework.rpc import RpcClient
    from framework.server.single import SingleProcessServer


def create_testing_app(*, providers: Sequence[object] = (),
                       imports: Sequence[Module | type[Module]] = (),
                       **app_options: Any) -> TestingApp:
    """An App from ``imports`` and ``app_options`` (``config=``, ...) whose root ``providers``
    override the imported ones, e.g. ``provide(Db, use_value=FakeDb())``.

    FrameworkModule is imported first when no module of ``imports`` brings it. Unless
    ``broker_url`` is set, the app gets a memory broker of its own (as every App does): every
    testing app starts with an empty broker, so tests do not see each other's keys and messages.
    """
    from framework.app import App
    from framework.framework_module import FrameworkModule

    modules = list(imports)
    if not _imports_any(modules, FrameworkModule):
        modules.insert(0, FrameworkModule())
    return TestingApp(App(imports=modules, providers=list(providers), **app_options))


def _imports_any(modules: Sequence[object], wanted: type) -> bool:
    """Whether ``modules`` (classes or instances) or what they import hold a ``wanted``."""
    pending, seen = list(modules), set[int]()
    while pending:
        module = pending.pop()
        if id(module) in seen:
            continue
        seen.add(id(module))
        if isinstance(module, wanted) or (isinstance(module, type)
                                          and issubclass(module, wanted)):
            return True
        pending.extend(getattr(module, "imports", ()))
    return False


class TestingApp:
    """``get()`` resolves with the overrides; ``async with`` serves on a free loopback port."""

    __test__ = False  # not a pytest test class

    def __init__(self, app: App) -> None:
        self.app = app
        self.url = ""
        self._client: TestClient[web.Request, None] | None = None
        self._server: SingleProcessServer | None = None
        self._rpc_clients: list[RpcClient] = []

    def get(self, token: Hashable) -> Any:
        """Resolve ``token`` in this process (request-scoped ones in ``app.request_scope()``)."""
        return self.app.get(token)

    @property
    def client(self) -> TestClient[web.Request, None]:
        """aiohttp's test client on the served app: ``await testing.client.get("/path")``."""
        if self._client is None:
            raise RuntimeError("the testing app is not serving: use `async with testing:`")
        return self._client

    def rpc_client(self) -> RpcClient:
        """A JSON-RPC client on the served app's ``/rpc``; closed when serving stops."""
        from framework.rpc import RpcClient

        if not self.url:
            raise RuntimeError("the testing app is not serving: use `async with testing:`")
        client = RpcClient(f"{self.url}/rpc")
        self._rpc_clients.append(client)
        return client

    async def __aenter__(self) -> TestingApp:
        from aiohttp.test_utils import TestClient

        from framework.compat.aiohttp import running_test_server
        from framework.config import FrameworkConfig
        from framework.server.single import SingleProcessServer
        from framework.server.sockets import bind_socket

        server = SingleProcessServer(self.app, self.app.get(FrameworkConfig))
        sock = bind_socket("127.0.0.1", 0)
        try:
            await server.start(sock)
        except BaseException:
            sock.close()
            raise
        self._server, self.url = server, server.url
        self._client = TestClient(running_test_server(server.url))
        await self._client.start_server()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        for rpc_client in self._rpc_clients:
            await rpc_client.close()
        self._rpc_clients.clear()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._server is not None:
            await self._server.stop(self._server.config.graceful_shutdown_timeout)
            self._server, self.url = None, ""
