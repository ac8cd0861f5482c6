"""The ``--pid-file``: the master's pid, written at start and removed at exit."""

from __future__ import annotations

import os
from pathlib import Path

from framework.errors import FrameworkError


class PidFileError(FrameworkError, RuntimeError):
    """The pid file names a process that is still running: another server is using it."""


class PidFile:
    """Writes this process's pid to ``path`` (atomically) and removes it when done."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def create(self) -> None:
        other = self._recorded_pid()
        if other is not None and other != os.getpid() and _running(other):
            raise PidFileError(f"pid file {self.path} names pid {other}, which is still "
                               "running: stop that server or choose another --pid-file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        partial.write_text(f"{os.getpid()}\n")
        partial.replace(self.path)

    def remove(self) -> None:
        """Remove the file, unless another process has written its own pid there since."""
        if self._recorded_pid() == os.getpid():
            self.path.unlink(missing_ok=True)

    def _recorded_pid(self) -> int | None:
        try:
            return int(self.path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
