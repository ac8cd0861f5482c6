"""The App as the server and scripts use it: process info, resolution, lifecycle."""

import asyncio
import inspect
import json
import os

import pytest

from framework import App, FrameworkModule, Module, ProcessInfo, process_info, provide
from framework.process import become_worker
from tests.support import run_in_fork


class Session:
    pass


class Repo:
    def __init__(self, session: Session) -> None:
        self.session = session


class Handler:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo


class HandlerModule(Module):
    providers = [provide(Session, scope="request"), provide(Repo, scope="transient")]
    controllers = [Handler]


def test_a_process_told_it_is_a_worker_says_so_and_its_forked_child_does_not() -> None:
    app = App(imports=[FrameworkModule()])
    assert app.get(ProcessInfo) == process_info() == ProcessInfo(
        is_master=True, is_worker=False, worker_id=None, pid=os.getpid())

    def as_worker() -> str:
        app.override_in_process(ProcessInfo, become_worker(3))
        roles = [app.get(ProcessInfo).worker_id, process_info().worker_id]
        in_child = run_in_fork(lambda: json.dumps(
            [app.get(ProcessInfo).worker_id, process_info().worker_id,
             app.get(ProcessInfo).pid == process_info().pid == os.getpid()]))
        return json.dumps([roles, json.loads(in_child)])

    assert json.loads(run_in_fork(as_worker)) == [[3, 3], [None, None, True]]
    assert app.get(ProcessInfo).is_master and process_info().is_master


def test_resolution_reads_no_signature_after_the_app_is_built(
        monkeypatch: pytest.MonkeyPatch) -> None:
    app = App(imports=[HandlerModule()])

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a signature was read while resolving")

    monkeypatch.setattr(inspect, "signature", refuse)
    with app.request_scope():
        handler = app.get(Handler)
    assert isinstance(handler.repo.session, Session)


def test_startup_and_shutdown_can_run_again() -> None:
    closed = []

    def open_session() -> object:
        yield Session()
        closed.append(True)

    app = App(providers=[provide(Session, use_factory=open_session)])

    async def twice() -> None:
        for _ in range(2):
            await app.startup()
            app.get(Session)
            await app.shutdown()
            await app.shutdown()

    asyncio.run(twice())
    assert closed == [True, True]


def test_a_failing_teardown_is_logged_and_the_others_still_run(
        caplog: pytest.LogCaptureFixture) -> None:
    closed = []

    class Pool:
        pass

    def open_session() -> object:
        yield Session()
        closed.append("session")

    def open_pool(session: Session) -> object:
        yield Pool()
        raise OSError("socket already closed")

    app = App(providers=[provide(Session, use_factory=open_session),
                         provide(Pool, use_factory=open_pool)])
    app.get(Pool)
    asyncio.run(app.shutdown())
    assert closed == ["session"]
    assert "tearing down Pool failed" in caplog.text


def test_name_is_kept_for_process_titles() -> None:
    assert App(name="shop").name == "shop"
    assert App().name == "app"
