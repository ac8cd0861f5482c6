"""OpenAPI at /openapi.json and the /docs page, on a real server on loopback.

The document is checked by openapi-spec-validator and for the test app's types and
constraints; schemathesis then calls every operation it describes and must find no server
error and no answer that breaks the document.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from swagger_ui_bundle import swagger_ui_path

from tests.support import REPO, ServerProcess

APP = "tests.http.openapi_app:app"


def get(url: str) -> tuple[int, str, bytes]:
    """(status, content type, body) of GET ``url``, errors included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.headers.get_content_type(), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get_content_type(), error.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(APP, cwd=tmp_path_factory.mktemp("openapi")) as process:
        process.wait_serving()
        yield process


@pytest.fixture(scope="module")
def document(server: ServerProcess) -> dict[str, Any]:
    status, content_type, body = get(f"{server.url}/openapi.json")
    assert (status, content_type) == (200, "application/json")
    loaded: dict[str, Any] = json.loads(body)
    return loaded


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "notes"


def test_the_document_shows_parameters_with_their_types_and_constraints(
        document: dict[str, Any]) -> None:
    listing = {p["name"]: p for p in document["paths"]["/notes"]["get"]["parameters"]}
    assert listing["limit"] == {"name": "limit", "in": "query", "required": False, "schema": {
        "type": "integer", "minimum": 1, "maximum": 100, "default": 10}}
    assert listing["order"]["schema"]["enum"] == ["asc", "desc"]
    one = {p["name"]: p for p in document["paths"]["/notes/{note_id}"]["get"]["parameters"]}
    assert one["note_id"]["in"] == "path" and one["note_id"]["required"] is True
    assert one["note_id"]["schema"] == {"type": "string", "format": "uuid"}
    assert one["x-trace"]["in"] == "header"
    day = document["paths"]["/day/{day}"]["get"]
    assert day["parameters"][0]["schema"] == {"type": "string", "format": "date"}
    assert day["responses"]["200"]["content"] == {"text/plain": {"schema": {"type": "string"}}}
    values = {p["name"]: p for p in document["paths"]["/values"]["get"]["parameters"]}
    assert values["tags"]["style"] == "form" and values["tags"]["explode"] is True
    assert values["tags"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert values["X-Labels"]["style"] == "simple" and values["X-Labels"]["explode"] is False


def test_bodies_and_answers_are_components_with_their_constraints(
        document: dict[str, Any]) -> None:
    create = document["paths"]["/notes"]["post"]
    body = create["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/NoteIn"}
    answer = create["responses"]["201"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/Note"}
    schemas = document["components"]["schemas"]
    note_in = schemas["NoteIn"]
    assert note_in["required"] == ["title", "author"]
    assert note_in["properties"]["title"] == {"type": "string", "minLength": 1, "maxLength": 100}
    assert note_in["properties"]["author"] == {"$ref": "#/components/schemas/Author"}
    assert {"type": "string", "format": "date-time"} in note_in["properties"]["due"]["anyOf"]
    assert note_in["properties"]["colour"]["enum"] == ["red", "blue"]
    assert {"$ref": "#/components/schemas/Meta"} in note_in["properties"]["meta"]["anyOf"]
    assert schemas["Meta"]["properties"] == {"source": {"type": "string"}}
    assert schemas["Author"]["properties"]["name"]["maxLength"] == 40
    assert schemas["Note"]["properties"]["id"] == {"type": "string", "format": "uuid"}
    delete = document["paths"]["/notes/{note_id}"]["delete"]["responses"]
    assert set(delete) == {"204", "400", "404"}


def test_errors_have_one_shape_and_their_statuses(document: dict[str, Any]) -> None:
    create = document["paths"]["/notes"]["post"]["responses"]
    assert {"400", "413", "415"} <= set(create)
    error = {"$ref": "#/components/schemas/Error"}
    assert all(create[s]["content"]["application/json"]["schema"] == error
               for s in ("400", "413", "415"))
    assert "404" in document["paths"]["/notes/{note_id}"]["get"]["responses"]
    shape = document["components"]["schemas"]["Error"]
    assert shape["required"] == ["status", "error", "detail"]
    assert "errors" in shape["properties"]


def test_the_hello_example_documents_its_routes(tmp_path: Path) -> None:
    hello_dir = str(REPO / "examples" / "hello")
    with ServerProcess("app:app", cwd=tmp_path, env={"PYTHONPATH": hello_dir}) as process:
        process.wait_serving()
        status, _, body = get(f"{process.url}/openapi.json")
    assert status == 200
    hello = json.loads(body)
    validate(hello)
    shout = hello["paths"]["/hello/{name}"]["get"]["parameters"][1]
    assert shout == {"name": "shout", "in": "query", "required": False,
                     "schema": {"type": "boolean", "default": False}}
    assert "post" in hello["paths"]["/visits"]


def test_docs_page_and_its_assets_are_served_locally(server: ServerProcess) -> None:
    status, content_type, page = get(f"{server.url}/docs")
    assert (status, content_type) == (200, "text/html")
    text = page.decode()
    links = re.findall(r'(?:src|href)="([^"]+)"', text)
    assert links and all(link.startswith("/docs/assets/") for link in links), links
    assert '"/openapi.json"' in text and "http" not in text.replace("<html", "")
    kinds = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
             "favicon-32x32.png": "image/png"}
    for link in links:
        status, content_type, asset = get(server.url + link)
        assert (status, content_type) == (200, kinds[link.rsplit("/", 1)[1]]), link
        assert asset == (Path(str(swagger_ui_path)) / link.rsplit("/", 1)[1]).read_bytes()
    assert get(f"{server.url}/docs/assets/index.html")[0] == 404
    assert get(f"{server.url}/docs/assets/..%2Fswagger-ui.js")[0] == 404


def test_openapi_path_moves_the_document_and_empty_turns_it_and_docs_off(tmp_path: Path
                                                                          ) -> None:
    moved = {"APP_FRAMEWORK_OPENAPI_PATH": "/api/spec.json"}
    with ServerProcess(APP, cwd=tmp_path, env=moved) as process:
        process.wait_serving()
        status, _, body = get(f"{process.url}/api/spec.json")
        assert status == 200 and json.loads(body)["info"]["title"] == "notes"
        assert b'url: "/api/spec.json"' in get(f"{process.url}/docs")[2]
        assert get(f"{process.url}/openapi.json")[0] == 404
    with ServerProcess(APP, cwd=tmp_path, env={"APP_FRAMEWORK_OPENAPI_PATH": ""}) as process:
        process.wait_serving()
        assert get(f"{process.url}/openapi.json")[0] == 404
        assert get(f"{process.url}/docs")[0] == 404
        assert get(f"{process.url}/notes")[0] == 200


def test_schemathesis_finds_the_served_api_is_the_documented_one(
        server: ServerProcess, tmp_path: Path) -> None:
    """Valid and invalid input (``--mode all``) for every operation, every value type among
    them: no server error, no answer the document does not describe, every value it calls
    valid accepted and every one it calls invalid refused. Seeded: the same cases each run."""
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli is not None, "schemathesis (the test extra) is not installed"
    checks = ("not_a_server_error,response_schema_conformance,negative_data_rejection,"
              "positive_data_acceptance,status_code_conformance,content_type_conformance")
    run = subprocess.run(
        [cli, "run", f"{server.url}/openapi.json", "--checks", checks, "--mode", "all",
         "--phases", "coverage,fuzzing", "--max-examples", "100", "--seed", "1",
         "--request-timeout", "10", "--no-color"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "7 selected / 7 total" in run.stdout and "No issues found" in run.stdout
