"""Events: listener classes with injection, plain functions, order, sync and async, errors."""

import asyncio
import os

import pytest

from framework import App, Module, event_dispatcher, process_info
from framework.events import (
    AppEvent,
    ListenerError,
    ServerEvent,
    on_server_bootstrap,
    on_server_shutdown,
    on_server_worker_bootstrap,
)
from tests.support import run_in_fork

calls: list[str] = []


class Journal:
    def __init__(self) -> None:
        self.lines: list[str] = []


class BootListener:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    @event_dispatcher.listen(on_server_bootstrap, order=10)
    def late(self, event: ServerEvent) -> None:
        self.journal.lines.append("class late")

    @event_dispatcher.listen(on_server_bootstrap, order=-5)
    async def early(self, event: ServerEvent) -> None:
        await asyncio.sleep(0)
        self.journal.lines.append(f"class early pid={event.process.pid}")


@event_dispatcher.listen(on_server_bootstrap)
def plain(event: ServerEvent) -> None:
    calls.append("plain function")


@event_dispatcher.listen(on_server_bootstrap, order=1)
async def plain_async(event: ServerEvent) -> None:
    calls.append("async function")


class EventsModule(Module):
    providers = [Journal]
    listeners = [BootListener, plain, plain_async]


def test_listeners_run_in_order_with_injection_sync_and_async() -> None:
    calls.clear()
    app = App(imports=[EventsModule()])
    asyncio.run(app.dispatch(on_server_bootstrap))
    journal = app.get(Journal)
    assert journal.lines == [f"class early pid={process_info().pid}", "class late"]
    assert calls == ["plain function", "async function"]


def test_only_the_listeners_of_the_token_run() -> None:
    calls.clear()
    app = App(imports=[EventsModule()])
    asyncio.run(app.dispatch(on_server_shutdown))
    assert app.get(Journal).lines == [] and calls == []


def test_a_listener_gets_the_event_given() -> None:
    seen = []

    @event_dispatcher.listen(on_server_worker_bootstrap)
    def remember(event: AppEvent) -> None:
        seen.append(event)

    app = App(listeners=[remember])
    asyncio.run(app.dispatch(on_server_worker_bootstrap, AppEvent("x", 3)))
    assert seen == [AppEvent("x", 3)]


class Failing:
    @event_dispatcher.listen(on_server_bootstrap)
    def explode(self, event: ServerEvent) -> None:
        raise RuntimeError("database unreachable")


def test_a_raising_listener_stops_the_dispatch_and_is_named() -> None:
    calls.clear()

    @event_dispatcher.listen(on_server_bootstrap, order=100)
    def after(event: ServerEvent) -> None:
        calls.append("after")

    app = App(listeners=[Failing, after])
    with pytest.raises(ListenerError) as error:
        asyncio.run(app.dispatch(on_server_bootstrap))
    assert str(error.value) == ("listener Failing.explode failed on on_server_bootstrap: "
                                "RuntimeError: database unreachable")
    assert isinstance(error.value.__cause__, RuntimeError)
    assert calls == []


def test_a_listener_class_is_built_once_per_process_lazily() -> None:
    built = []

    class Counting:
        def __init__(self) -> None:
            built.append(self)

        @event_dispatcher.listen(on_server_bootstrap)
        def count(self, event: ServerEvent) -> None:
            pass

    app = App(listeners=[Counting])
    assert built == []
    asyncio.run(app.dispatch(on_server_bootstrap))
    asyncio.run(app.dispatch(on_server_bootstrap))
    assert len(built) == 1


def test_receivers_connected_to_the_blinker_signal_run_too() -> None:
    got = []

    def receiver(sender: App, event: ServerEvent) -> None:
        got.append((sender, event))

    on_server_shutdown.connect(receiver)
    try:
        app = App()
        asyncio.run(app.dispatch(on_server_shutdown))
    finally:
        on_server_shutdown.disconnect(receiver)
    assert got == [(app, ServerEvent(process_info()))]


def test_listen_takes_a_token_and_a_listed_function_must_listen() -> None:
    with pytest.raises(TypeError, match="listen\\(\\) takes an event token"):
        event_dispatcher.listen("on_server_bootstrap")

    def not_a_listener(event: ServerEvent) -> None:
        pass

    with pytest.raises(TypeError, match="has no @event_dispatcher.listen"):
        App(listeners=[not_a_listener])


def test_a_forked_child_builds_its_own_listener_instances() -> None:
    built_in: list[int] = []

    class PerProcess:
        def __init__(self) -> None:
            built_in.append(os.getpid())

        @event_dispatcher.listen(on_server_bootstrap)
        def boot(self, event: ServerEvent) -> None:
            pass

    app = App(listeners=[PerProcess])
    asyncio.run(app.dispatch(on_server_bootstrap))

    def in_child() -> str:
        asyncio.run(app.dispatch(on_server_bootstrap))
        return str(built_in == [os.getppid(), os.getpid()])

    assert run_in_fork(in_child) == "True"
    assert built_in == [os.getpid()]
