"""fw's types as an app's type checker reads them (fw ships py.typed): a route's ``http.Body[T]``
parameter is a ``T``, and decorated routes and RPC actions keep their signatures."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support import REPO

APP = textwrap.dedent('''
    from dataclasses import dataclass

    from framework import App, Module, http, rpc


    @dataclass
    class NewUser:
        name: str


    class Users:
        @http.post("/users")
        async def create(self, body: http.Body[NewUser]) -> dict[str, str]:
            return {"name": body.name}


    @rpc.controller("users")
    class UsersRpc:
        @rpc.action
        def greet(self, name: str) -> str:
            return f"hello {name}"


    class AppModule(Module):
        controllers = [Users, UsersRpc]


    app = App(imports=[AppModule()])
    reveal_type(Users.create)
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
        '"def (self: typed_app.UsersRpc, name: str) -> str"']
