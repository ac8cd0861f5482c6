"""`fw new`: copy app_template/ into a new project, rendering its name into paths and files."""

from __future__ import annotations

import keyword
import re
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

_VALID_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


class ScaffoldError(Exception):
    """`fw new` refused: the message says why, and nothing was written."""


def package_name(project_name: str) -> str:
    """The Python identifier a project name gives: ``my-shop`` -> ``my_shop``."""
    if not _VALID_NAME.match(project_name):
        raise ScaffoldError(
            f"invalid project name {project_name!r}: use letters, digits, '-' and '_', "
            "starting with a letter")
    identifier = project_name.replace("-", "_").lower()
    if keyword.iskeyword(identifier) or identifier in {"framework", "app", "tests"}:
        raise ScaffoldError(f"invalid project name {project_name!r}: {identifier!r} is reserved")
    return identifier


def create_project(project_name: str, target: Path) -> list[Path]:
    """Render the template into ``target`` (absent or empty); returns the files written."""
    replacements = {"{{project_name}}": project_name, "{{package}}": package_name(project_name)}
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target} already exists and is not empty")
    planned = [(path, text) for path, text in
               _render_tree(files("framework.app_template"), Path(), replacements)
               if path != Path("__init__.py")]
    written = []
    for relative, text in planned:
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(text)
        written.append(destination)
    return written


def _render(text: str, replacements: dict[str, str]) -> str:
    for placeholder, value in replacements.items():
        text = text.replace(placeholder, value)
    return text


def _render_tree(folder: Traversable, relative: Path,
                 replacements: dict[str, str]) -> list[tuple[Path, str]]:
    rendered = []
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name in {"__pycache__", ".pytest_cache"} or entry.name.endswith(".egg-info"):
            continue
        path = relative / _render(entry.name, replacements)
        if entry.is_dir():
            rendered.extend(_render_tree(entry, path, replacements))
        else:
            rendered.append((path, _render(entry.read_text(), replacements)))
    return rendered
