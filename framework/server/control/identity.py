"""Which project a server serves, so that the control CLI acts on its own project's only.

Two projects on one machine may both name their App ``app``, so a name cannot tell their
servers apart. A server is identified by its app's name and its project: the directory that
holds the app's top-level module or package (``AppSource.root``), which a CLI finds alike
from anywhere in the project. The control socket answers it to ``identify``; the CLI
compares before it reads or acts, and refuses a server that is not its own or that does
not say.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from framework.server.control.frames import Identity


@dataclass(frozen=True)
class ServerIdentity:
    """An app's name and its project directory; where the server was started, for people.

    An empty ``app`` is a CLI that could not import its app: any app of the project matches.
    """

    app: str
    project: str
    directory: str = ""

    @classmethod
    def of(cls, app: str, project: str, directory: str = "") -> ServerIdentity:
        """The identity with ``project`` (and ``directory``) as real, absolute paths."""
        return cls(app, os.path.realpath(project), os.path.realpath(directory) if directory
                   else "")

    @classmethod
    def from_json(cls, data: object) -> ServerIdentity | None:
        """The identity a server answered, or None when the answer is not one."""
        if not isinstance(data, dict):
            return None
        fields = [data.get(name) for name in ("app", "project", "directory")]
        if not all(isinstance(value, str) for value in fields) or not fields[1]:
            return None
        app, project, directory = (str(value) for value in fields)
        return cls(app, project, directory)

    def to_json(self) -> Identity:
        return {"app": self.app, "project": self.project, "directory": self.directory}

    def matches(self, server: ServerIdentity) -> bool:
        """True when ``server`` serves this project, and this app unless it is unnamed."""
        return server.project == self.project and self.app in ("", server.app)

    def describe(self) -> str:
        return f"app {self.app} of {self.project}" if self.app else f"the app of {self.project}"
