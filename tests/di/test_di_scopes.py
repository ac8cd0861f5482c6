"""Scopes: singleton per process (a forked child builds its own), transient, request."""

import asyncio
import os

import pytest

from framework import App, Module, provide
from framework.di.errors import ScopeError
from tests.support import run_in_fork


class Session:
    pass


class Repo:
    def __init__(self, session: Session) -> None:
        self.session = session


class Service:
    def __init__(self, repo: Repo, session: Session) -> None:
        self.repo = repo
        self.session = session


class Clock:
    pass


class Controller:
    def __init__(self, service: Service, clock: Clock) -> None:
        self.service = service
        self.clock = clock


class ScopedModule(Module):
    providers = [Clock, provide(Session, scope="request"), provide(Repo, scope="transient"),
                 provide(Service, scope="transient")]
    controllers = [Controller]


def make_app() -> App:
    return App(imports=[ScopedModule()])


def test_singleton_is_one_instance_built_lazily() -> None:
    built = []

    class Counted:
        def __init__(self) -> None:
            built.append(self)

    app = App(providers=[Counted])
    assert built == []
    assert app.get(Counted) is app.get(Counted)
    assert len(built) == 1


def test_transient_is_new_at_every_injection() -> None:
    app = App(providers=[provide(Clock, scope="transient")])
    assert app.get(Clock) is not app.get(Clock)


def test_request_scoped_is_shared_inside_one_scope_only() -> None:
    app = make_app()
    with app.request_scope():
        controller = app.get(Controller)
        assert controller.service.session is controller.service.repo.session
        assert app.get(Controller) is controller
        assert app.get(Session) is controller.service.session
    with app.request_scope():
        again = app.get(Controller)
    assert again is not controller
    assert again.service.session is not controller.service.session
    assert again.clock is controller.clock


def test_sequential_scopes_in_one_task_never_share() -> None:
    app = make_app()

    async def requests() -> list[Session]:
        sessions = []
        for _ in range(5):
            async with app.request_scope():
                sessions.append(app.get(Session))
        return sessions

    sessions = asyncio.run(requests())
    assert len({id(s) for s in sessions}) == 5


def test_100_concurrent_tasks_never_share_a_request_scoped_instance() -> None:
    app = make_app()

    async def one_request() -> tuple[Controller, Session]:
        async with app.request_scope():
            controller = app.get(Controller)
            await asyncio.sleep(0)  # let the other requests interleave with this one
            assert app.get(Session) is controller.service.session
            await asyncio.sleep(0)
            return controller, app.get(Session)

    async def main() -> list[tuple[Controller, Session]]:
        return await asyncio.gather(*(one_request() for _ in range(100)))

    results = asyncio.run(main())
    assert len({id(controller) for controller, _ in results}) == 100
    assert len({id(session) for _, session in results}) == 100
    assert len({id(controller.clock) for controller, _ in results}) == 1


def test_a_nested_scope_is_its_own_and_the_outer_one_comes_back() -> None:
    app = make_app()
    with app.request_scope():
        outer = app.get(Session)
        with app.request_scope():
            assert app.get(Session) is not outer
        assert app.get(Session) is outer


def test_request_scoped_outside_a_scope_is_a_clear_error() -> None:
    app = make_app()
    with pytest.raises(ScopeError, match=r"^Session is request-scoped: resolve it inside "
                                         r"`with app.request_scope\(\):` \(or `async with`\)$"):
        app.get(Session)


def test_a_singleton_cannot_hold_a_request_scoped_service() -> None:
    with pytest.raises(ScopeError) as error:
        App(providers=[provide(Session, scope="request"), Repo])
    assert str(error.value) == ("Repo -> Session: singleton Repo would keep the request-scoped "
                                "Session of one request; make Repo request-scoped or transient")


def test_a_singleton_is_rebuilt_in_a_forked_child() -> None:
    app = App(providers=[Clock])
    parent_clock = app.get(Clock)

    def in_child() -> str:  # report what the child resolves
        child_clock = app.get(Clock)
        return f"{id(child_clock) != id(parent_clock)} {child_clock is app.get(Clock)}"

    assert run_in_fork(in_child) == "True True"
    assert app.get(Clock) is parent_clock


def test_a_resource_built_before_fork_is_rebuilt_in_the_child_and_not_closed_there() -> None:
    closed_in: list[int] = []

    def open_session() -> object:
        yield Session()
        closed_in.append(os.getpid())

    app = App(providers=[provide(Session, use_factory=open_session)])
    parent_session = app.get(Session)

    def in_child() -> str:
        fresh = app.get(Session) is not parent_session
        asyncio.run(app.shutdown())
        return f"{fresh} {closed_in == [os.getpid()]}"

    assert run_in_fork(in_child) == "True True"
    assert closed_in == []
    asyncio.run(app.shutdown())
    assert closed_in == [os.getpid()]
