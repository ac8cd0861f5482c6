"""rpc.discover over POST /rpc on a real server: an OpenRPC document of every action whose
params and result schemas are the ones the server binds and answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.support import ServerProcess

APP_SOURCE = '''
import dataclasses
import datetime
import enum
import uuid
from typing import Annotated

from framework import App, FrameworkModule, http, rpc


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Tag:
    name: Annotated[str, http.Field(min_length=1, max_length=20)]


@dataclasses.dataclass
class Note:
    id: uuid.UUID
    title: str
    created: datetime.datetime
    colour: Colour
    tags: list[Tag]
    stars: int = 0


@rpc.controller("notes")
class NotesRpc:
    @rpc.action
    def create(self, title: Annotated[str, http.Field(max_length=80)], colour: Colour,
               tags: list[Tag], *, stars: Annotated[int, http.Field(ge=0, le=5)] = 0) -> Note:
        """Create a note.

        The tags are kept in order."""
        return Note(uuid.UUID(int=7), title, datetime.datetime(2026, 1, 2, 3, 4, 5), colour,
                    tags, stars)

    @rpc.action
    def forget(self, id: uuid.UUID) -> None:
        return None


@rpc.controller("clock")
class ClockRpc:
    @rpc.action
    async def today(self) -> datetime.date:
        return datetime.date(2026, 1, 2)


app = App(imports=[FrameworkModule()], controllers=[NotesRpc, ClockRpc], name="notes-service")
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    cwd: Path = tmp_path_factory.mktemp("discover")
    (cwd / "discover_app.py").write_text(APP_SOURCE)
    with ServerProcess("discover_app:app", cwd=cwd) as process:
        process.wait_serving()
        yield process


def call(server: ServerProcess, method: str, params: Any = None) -> Any:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": 1}
    if params is not None:
        message["params"] = params
    connection = HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("POST", "/rpc", body=json.dumps(message),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200
        answer = json.loads(response.read())
    finally:
        connection.close()
    assert "error" not in answer, answer
    return answer["result"]


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A draft 2020-12 validator of ``schema`` whose $refs find the document's components."""
    resource = Resource.from_contents(document,
                                      default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:openrpc", resource)
    text = json.dumps(schema).replace('"#/components/', '"urn:openrpc#/components/')
    return jsonschema.Draft202012Validator(json.loads(text), registry=registry)


def test_rpc_discover_lists_every_action_with_its_params_and_result(
        server: ServerProcess) -> None:
    document = call(server, "rpc.discover")
    assert document["openrpc"].startswith("1.")
    assert document["info"] == {"title": "notes-service", "version": "1.0.0"}
    methods = {method["name"]: method for method in document["methods"]}
    assert set(methods) == {"notes.create", "notes.forget", "clock.today"}
    create = methods["notes.create"]
    assert create["summary"] == "Create a note."
    assert create["paramStructure"] == "by-name"  # stars is keyword-only
    params = {param["name"]: param for param in create["params"]}
    assert list(params) == ["title", "colour", "tags", "stars"]
    assert params["title"] == {"name": "title", "required": True,
                               "schema": {"type": "string", "maxLength": 80}}
    assert params["colour"]["schema"]["enum"] == ["red", "blue"]
    assert params["tags"]["schema"] == {"type": "array",
                                        "items": {"$ref": "#/components/schemas/Tag"}}
    assert params["stars"] == {"name": "stars", "required": False,
                               "schema": {"type": "integer", "minimum": 0, "maximum": 5}}
    schemas = document["components"]["schemas"]
    assert schemas["Tag"]["properties"]["name"] == {"type": "string", "minLength": 1,
                                                    "maxLength": 20}
    note = schemas["Note"]
    assert create["result"]["schema"] == {"$ref": "#/components/schemas/Note"}
    assert note["properties"]["id"] == {"type": "string", "format": "uuid"}
    assert note["properties"]["created"] == {"type": "string", "format": "date-time"}
    assert note["required"] == ["id", "title", "created", "colour", "tags"]
    assert methods["notes.forget"]["result"]["schema"] == {"type": "null"}
    assert methods["notes.forget"]["paramStructure"] == "either"
    assert methods["clock.today"]["params"] == []
    assert methods["clock.today"]["result"]["schema"] == {"type": "string", "format": "date"}


def test_what_the_actions_answer_fits_the_discovered_schemas(server: ServerProcess) -> None:
    document = call(server, "rpc.discover")
    methods = {method["name"]: method for method in document["methods"]}
    for method in document["methods"]:
        for param in method["params"]:
            jsonschema.Draft202012Validator.check_schema(param["schema"])
    arguments = {"title": "Groceries", "colour": "blue", "tags": [{"name": "home"}],
                 "stars": 3}
    for param in methods["notes.create"]["params"]:
        validator(document, param["schema"]).validate(arguments[param["name"]])
    answers = {"notes.create": call(server, "notes.create", arguments),
               "notes.forget": call(server, "notes.forget",
                                    {"id": "00000000-0000-0000-0000-000000000007"}),
               "clock.today": call(server, "clock.today")}
    for name, answer in answers.items():
        validator(document, methods[name]["result"]["schema"]).validate(answer)
    assert answers["notes.create"]["tags"] == [{"name": "home"}]

