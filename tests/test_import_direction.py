"""Imports point one way (DESIGN.md): cli -> app. The App, and everything it imports, reaches
neither the command line nor the debug tables, not even through an import inside a function."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.support import REPO

ABOVE_THE_APP = ("framework.cli", "framework.cli.debug")


def module_file(name: str) -> Path | None:
    """The source of fw module ``name`` in this checkout, if it is one."""
    base = REPO.joinpath(*name.split("."))
    return next((path for path in (base.with_suffix(".py"), base / "__init__.py")
                 if path.is_file()), None)


def fw_imports(name: str) -> set[str]:
    """Every fw module that module ``name`` imports anywhere in its code, with the packages
    an import runs on the way (importing ``a.b.c`` runs ``a`` and ``a.b``)."""
    path = module_file(name)
    assert path is not None, name
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *filter(None, [node.module])])
            named.add(base)
            named.update(f"{base}.{alias.name}" for alias in node.names)
    parts = [dotted.split(".") for dotted in named if dotted.split(".")[0] == "framework"]
    prefixes = {".".join(split[:end]) for split in parts for end in range(1, len(split) + 1)}
    return {prefix for prefix in prefixes if module_file(prefix) is not None}


def import_chains(start: str) -> dict[str, list[str]]:
    """Every fw module reachable by imports from ``start``, with one chain that reaches it."""
    chains = {start: [start]}
    pending = [start]
    while pending:
        importer = pending.pop()
        for imported in sorted(fw_imports(importer)):
            if imported not in chains:
                chains[imported] = [*chains[importer], imported]
                pending.append(imported)
    return chains


def test_the_app_imports_neither_the_cli_nor_the_debug_tables_at_any_depth() -> None:
    chains = import_chains("framework.app")
    assert "framework.server" in chains, "the import graph walk found too little to prove much"
    reached = {name: " -> ".join(chains[name]) for name in ABOVE_THE_APP if name in chains}
    assert reached == {}


def test_importing_framework_app_loads_neither_the_cli_nor_the_debug_tables() -> None:
    program = ("import sys\nimport framework.app\n"
               f"print(sorted(name for name in {ABOVE_THE_APP!r} if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", program], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
