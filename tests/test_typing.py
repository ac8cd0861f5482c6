"""fw's types as an app's type checker reads them (fw ships py.typed): a route's ``http.Body[T]``
parameter is a ``T``, ``Annotated[T, http.Field(...)]`` / ``http.Header()`` / ``http.Cookie()``
ones too, and decorated routes and RPC actions keep their signatures."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support import REPO

APP = textwrap.dedent('''
    from dataclasses import dataclass
    from typing import Annotated

    from framework import App, Module, http, rpc


    @dataclass
    class NewUser:
        name: str


    class Users:
        @http.post("/users", status=201)
        async def create(self, body: http.Body[NewUser]) -> dict[str, str]:
            return {"name": body.name}

        @http.get("/users")
        async def search(self, limit: Annotated[int, http.Field(ge=1, le=100)],
                         request_id: Annotated[str, http.Header("X-Request-Id")],
                         session: Annotated[str | None, http.Cookie()] = None) -> list[int]:
            return [limit + len(request_id) + len(session or "")]


    @rpc.controller("users")
    class UsersRpc:
        @rpc.action
        def greet(self, name: str) -> str:
            return f"hello {name}"


    class AppModule(Module):
        controllers = [Users, UsersRpc]


    app = App(imports=[AppModule()])
    reveal_type(Users.create)
    reveal_type(Users.search)
    reveal_type(UsersRpc.greet)
''')


def test_an_app_type_checks_strictly_against_fw_with_its_route_and_action_types(
        tmp_path: Path) -> None:
    (tmp_path / "typed_app.py").write_text(APP)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"),
         "--no-error-summary", "typed_app.py"],
        cwd=tmp_path, env={**os.environ, "MYPYPATH": str(REPO)}, capture_output=True,
        text=True, timeout=120)
    # fw's own findings are scripts/test.sh's to report; these are the app's
    lines = [line for line in result.stdout.splitlines() if line.startswith("typed_app.py")]
    assert [line for line in lines if ": error:" in line] == [], result.stdout
    revealed = [line.split("Revealed type is ", 1)[1].replace("builtins.", "")  # mypy < 2
                for line in lines if "Revealed" in line]
    assert revealed == [
        '"def (self: typed_app.Users, body: typed_app.NewUser) -> '
        'typing.Coroutine[Any, Any, dict[str, str]]"',
        '"def (self: typed_app.Users, limit: int, request_id: str, session: str | None =) -> '
        'typing.Coroutine[Any, Any, list[int]]"',
        '"def (self: typed_app.UsersRpc, name: str) -> str"']
