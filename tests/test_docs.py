"""Every Python block in docs/ runs.

A page's blocks run in order as one script, in a fresh interpreter inside an empty
directory. A block whose first line is ``# file: NAME`` is written to NAME there instead of
being run, so a page can show a project's files and then use them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

DOCS = sorted((REPO / "docs").glob("**/*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
FILE_MARKER = re.compile(r"^# file: (\S+)\n")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#+ (.*)$", re.M)


def split_page(text: str) -> tuple[dict[str, str], str]:
    files: dict[str, str] = {}
    script: list[str] = []
    for block in BLOCK.findall(text):
        marker = FILE_MARKER.match(block)
        if marker:
            files[marker.group(1)] = block[marker.end():]
        else:
            script.append(block)
    return files, "\n".join(script)


def test_docs_exist() -> None:
    assert DOCS, "docs/ has no pages"


@pytest.mark.parametrize("page", DOCS, ids=[str(p.relative_to(REPO / "docs")) for p in DOCS])
def test_python_blocks_run(page: Path, tmp_path: Path) -> None:
    files, script = split_page(page.read_text())
    for name, content in files.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    env = {k: v for k, v in env.items() if not k.startswith("APP_")}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (
        f"{page.name} failed:\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")


def anchor_of(heading: str) -> str:
    """The anchor a Markdown renderer gives a heading: lowercase, punctuation out, dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", DOCS, ids=[str(p.relative_to(REPO / "docs")) for p in DOCS])
def test_links_between_pages_resolve(page: Path) -> None:
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = page.parent / path if path else page
        assert linked.is_file(), f"{page.name} links to {target}: no such page"
        if anchor:
            anchors = {anchor_of(heading) for heading in HEADING.findall(linked.read_text())}
            assert anchor in anchors, f"{page.name} links to {target}: no such heading"
