"""A typed notes API served by tests/test_openapi.py: its document must show these types and
constraints, and schemathesis must find no answer that breaks it."""
from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import uuid
from typing import Annotated, Literal, TypedDict

from framework import App, FrameworkModule, Module, http


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Author:
    name: Annotated[str, http.Field(min_length=1, max_length=40)]
    email: str | None = None


class Meta(TypedDict):
    source: str


@dataclasses.dataclass
class NoteIn:
    title: Annotated[str, http.Field(min_length=1, max_length=100)]
    author: Author
    due: datetime.datetime | None = None
    price: decimal.Decimal = decimal.Decimal("0")
    colour: Colour = Colour.RED
    tags: list[str] = dataclasses.field(default_factory=list)
    meta: Meta | None = None


@dataclasses.dataclass
class Note:
    id: uuid.UUID
    title: str
    author: Author
    colour: Colour
    tags: list[str]


class Notes:
    @http.get("/notes")
    async def list_notes(self, limit: Annotated[int, http.Field(ge=1, le=100)] = 10,
                         order: Literal["asc", "desc"] = "asc") -> list[Note]:
        return []

    @http.post("/notes", status=201)
    async def create(self, note: http.Body[NoteIn]) -> Note:
        return Note(uuid.uuid4(), note.title, note.author, note.colour, note.tags)

    @http.get("/notes/{note_id}")
    async def get(self, note_id: uuid.UUID,
                  x_trace: Annotated[str, http.Header()] = "") -> Note:
        return Note(note_id, "a note", Author("Ada"), Colour.BLUE, [])

    @http.delete("/notes/{note_id}")
    async def delete(self, note_id: uuid.UUID) -> None:
        return None

    @http.get("/day/{day}")
    async def day(self, day: datetime.date) -> str:
        return day.isoformat()


class NotesModule(Module):
    name = "notes"
    controllers = [Notes]


app = App(imports=[FrameworkModule(), NotesModule()], name="notes")
