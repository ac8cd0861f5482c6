"""`fw new`: copy app_template/ into a new project, rendering its name into paths and files,
and say the steps that install, test and serve it in a fresh virtual environment.

fw is not on a package index, so when it was installed from a checkout, a file or a VCS
URL, the steps install it from there first: the project's own ``fw-framework`` dependency
could not be found otherwise.
"""

from __future__ import annotations

import json
import keyword
import re
import shlex
from importlib import metadata
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from framework.errors import FrameworkError

_VALID_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


class ScaffoldError(FrameworkError):
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
    replacements = {"{{project_name}}": project_name, "{{package}}": package_name(project_name),
                    "{{install_steps}}": "\n".join(install_steps())}
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target} already exists and is not empty")
    planned = [(path, text) for path, text in _render_tree(_template(), Path(), replacements)
               if path != Path("__init__.py")]
    written = []
    for relative, text in planned:
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(text)
        written.append(destination)
    return written


def next_steps(target: Path) -> list[str]:
    """The shell lines that take the project at ``target`` from nothing to serving, in a
    fresh virtual environment: each works as written, in order."""
    return [f"cd {shlex.quote(str(target))}",
            "python3 -m venv .venv && . .venv/bin/activate",
            *install_steps(),
            "python3 -m pytest",
            "fw server:start --workers 2"]


def install_steps() -> list[str]:
    """pip steps installing a new project with its test extra, fw itself first when no index
    has it."""
    source = fw_source()
    fw_step = [f"python3 -m pip install {source}"] if source else []
    return [*fw_step, 'python3 -m pip install -e ".[test]"']


def fw_source() -> str | None:
    """What ``pip install`` takes to install this fw again, or None when it came from an index.

    The checkout the running ``framework`` package sits in (``-e PATH``), else the source pip
    recorded (PEP 610 direct_url.json): a directory, a file, a VCS or archive URL.
    """
    checkout = _checkout()
    if checkout is not None:
        return f"-e {shlex.quote(str(checkout))}"
    try:
        recorded = metadata.distribution("fw-framework").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not recorded:
        return None
    origin = json.loads(recorded)
    url = origin["url"]
    if url.startswith("file:"):
        editable = origin.get("dir_info", {}).get("editable", False)
        path = shlex.quote(url2pathname(urlsplit(url).path))
        return f"-e {path}" if editable else path
    vcs = origin.get("vcs_info")
    if vcs:
        url = f"{vcs['vcs']}+{url}@{vcs['commit_id']}"
    return shlex.quote(f"fw-framework @ {url}")


def _checkout() -> Path | None:
    """fw's source tree, when the running ``framework`` package is the one inside it."""
    checkout = Path(__file__).resolve().parents[2]  # framework/cli/scaffold.py
    pyproject = checkout / "pyproject.toml"
    if pyproject.is_file() and 'name = "fw-framework"' in pyproject.read_text():
        return checkout
    return None


def _template() -> Traversable:
    """app_template/: beside the package in a source tree (also when that tree is only on
    PYTHONPATH), else the installed ``framework.app_template``."""
    checkout = _checkout()
    return checkout / "app_template" if checkout is not None else files("framework.app_template")


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
