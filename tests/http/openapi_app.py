"""A typed notes API served by tests/http/test_openapi.py: its document must show these types and
constraints, and schemathesis must find no answer that breaks it, and no value the document
calls valid refused nor one it calls invalid accepted. ``Values`` echoes every value type fw
reads, in a query, a header and a body, so conversion and schema are compared on each."""
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


@dataclasses.dataclass
class Window:
    start: datetime.datetime
    end: datetime.date | None = None


@dataclasses.dataclass
class Reading:
    """A body of every value type, with constraints."""

    priority: Annotated[int, http.Field(ge=0, le=100)]
    count: int
    ratio: Annotated[float, http.Field(gt=0, lt=1)]
    flag: bool
    price: decimal.Decimal
    id: uuid.UUID
    at: datetime.datetime
    day: datetime.date
    starts: datetime.time
    colour: Colour
    kind: Literal["a", "b"]
    code: Annotated[str, http.Field(pattern=r"[A-Z]{3}-[0-9]+")]
    window: Window
    meta: Meta
    note: Annotated[str, http.Field(min_length=1, max_length=10)] | None = None
    tags: Annotated[list[Annotated[str, http.Field(max_length=3)]],
                    http.Field(max_length=2)] = dataclasses.field(default_factory=list)
    labels: set[str] = dataclasses.field(default_factory=set)
    scores: dict[str, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Query:
    flag: bool
    count: int
    ratio: float
    price: decimal.Decimal | None
    id: uuid.UUID | None
    at: datetime.datetime | None
    since: datetime.date | None
    starts: datetime.time | None
    colour: Colour | None
    kind: Literal["a", "b"]
    code: str | None
    tags: list[str] | None
    counts: list[int]
    labels: list[str]


class Notes:
    @http.get("/notes")
    async def list_notes(self, limit: Annotated[int, http.Field(ge=1, le=100)] = 10,
                         order: Literal["asc", "desc"] = "asc",
                         since: datetime.date | None = None,
                         tags: list[str] | None = None) -> list[Note]:
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


class Values:
    @http.get("/values")
    async def query(self, flag: bool = False,
                    count: Annotated[int, http.Field(ge=1, le=100)] = 10,
                    ratio: Annotated[float, http.Field(ge=0)] = 0.5,
                    price: decimal.Decimal | None = None, id: uuid.UUID | None = None,
                    at: datetime.datetime | None = None, since: datetime.date | None = None,
                    starts: datetime.time | None = None, colour: Colour | None = None,
                    kind: Literal["a", "b"] = "a",
                    code: Annotated[str, http.Field(pattern=r"[a-z]+", max_length=5)] | None = None,
                    tags: list[str] | None = None,
                    counts: Annotated[list[Annotated[int, http.Field(ge=0)]],
                                      http.Field(max_length=3)] = [],  # noqa: B006 (never mutated)
                    labels: Annotated[list[str], http.Header("X-Labels")] = []  # noqa: B006
                    ) -> Query:
        return Query(flag, count, ratio, price, id, at, since, starts, colour, kind, code, tags,
                     counts, labels)

    @http.post("/readings", status=201)
    async def reading(self, reading: http.Body[Reading]) -> Reading:
        return reading


class NotesModule(Module):
    name = "notes"
    controllers = [Notes, Values]


app = App(imports=[FrameworkModule(), NotesModule()], name="notes")
