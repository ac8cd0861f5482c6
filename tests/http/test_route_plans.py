"""Route plans: a parameter nothing can bind stops the App build (and so start-up), naming it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pytest

from framework import App, FrameworkModule, http
from framework.cli.debug import routes_table
from framework.errors import DeclarationError
from tests.support import free_port, run_fw


@dataclass
class NoteIn:
    title: str


class Clock:
    pass


class Notes:
    @http.post("/notes")
    async def create(self, note: NoteIn) -> dict:
        return {}


class Tagged:
    @http.get("/tagged")
    async def tagged(self, request_id: Annotated[str, "header"]) -> dict:
        return {}


class Timed:
    @http.get("/time")
    async def now(self, clock: Clock) -> dict:
        return {}


@pytest.mark.parametrize(("controller", "line"), [
    (Notes, "Notes.create(note: NoteIn): NoteIn is not a path, query, header or cookie type "
            "and no provider declares it; did you mean http.Body[NoteIn]?"),
    (Tagged, "Tagged.tagged(request_id: str): 'header' in Annotated binds nothing; did you mean "
             "Annotated[str, http.Header()]?"),
    (Timed, "Timed.now(clock: Clock): Clock is not a path, query, header or cookie type and no "
            "provider declares it; declare a provider for Clock"),
])
def test_a_parameter_nothing_binds_stops_the_app_build(controller: type, line: str) -> None:
    with pytest.raises(DeclarationError) as raised:
        App(imports=[FrameworkModule()], controllers=[controller])
    assert str(raised.value) == line


class Search:
    @http.get("/search/{page}")
    async def search(self, page: int, clock: Clock,
                     limit: Annotated[int, http.Field(ge=1, le=100)] = 10,
                     request_id: Annotated[str, http.Header("X-Request-Id")] = "",
                     session: Annotated[str | None, http.Cookie()] = None,
                     body: http.Body[NoteIn | None] = None) -> dict:
        return {}


def test_debug_routes_prints_where_each_parameter_comes_from() -> None:
    app = App(imports=[FrameworkModule()], providers=[Clock], controllers=[Search])
    header, rows = routes_table(app)
    assert header[-1] == "parameters"
    assert rows == [("GET", "/search/{page}", "Search", "search",
                     "page: int (path); clock: Clock (injected); "
                     "limit: int = 10 (query, ge=1, le=100); "
                     "request_id: str = '' (header X-Request-Id); "
                     "session: str | None = None (cookie); "
                     "body: NoteIn | None = None (body)")]


def test_a_provided_parameter_is_injected() -> None:
    app = App(imports=[FrameworkModule()], providers=[Clock], controllers=[Timed])
    assert [(p.name, p.where) for plan in app.route_plans for p in plan.params] == [
        ("clock", "injected")]


NOTES_APP = '''
from dataclasses import dataclass

from framework import App, FrameworkModule, http
from framework.cli.debug import routes_table


@dataclass
class NoteIn:
    title: str


class Notes:
    @http.post("/notes")
    async def create(self, note: NoteIn) -> dict:
        return {"title": note.title}


app = App(imports=[FrameworkModule()], controllers=[Notes])
'''


def test_server_start_refuses_the_app_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(NOTES_APP)
    result = run_fw("server:start", cwd=tmp_path,
                    env={"APP_FRAMEWORK_PORT": str(free_port()), "APP_FRAMEWORK_WORKERS": "0"})
    assert result.returncode != 0
    assert ("Notes.create(note: NoteIn): NoteIn is not a path, query, header or cookie type "
            "and no provider declares it; did you mean http.Body[NoteIn]?") in result.stderr
    assert "Traceback" not in result.stderr
