"""Imports point one way (DESIGN.md, docs/architecture.md): cli -> app -> server -> (http,
rpc, jobs) -> broker -> (values, di, events, config, errors, ...). No fw module imports one of
a layer above its own, and no module imports one that imports it back, type-only imports and
imports inside functions included. The App reaches neither the command line nor the debug
tables."""

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


def import_statements(name: str) -> list[tuple[str, list[str]]]:
    """Each import of fw's in module ``name``, anywhere in its code, as (module, names):
    ``("a.b", [])`` for ``import a.b``, ``("a", ["c", "d"])`` for ``from a import c, d``."""
    path = module_file(name)
    assert path is not None, name
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *filter(None, [node.module])])
            found.append((base, [alias.name for alias in node.names]))
    return [(base, names) for base, names in found if base.split(".")[0] == "framework"]


def fw_imports(name: str) -> set[str]:
    """Every fw module that module ``name`` imports anywhere in its code, with the packages
    an import runs on the way (importing ``a.b.c`` runs ``a`` and ``a.b``)."""
    named = {dotted for base, names in import_statements(name)
             for dotted in (base, *(f"{base}.{each}" for each in names))}
    parts = [dotted.split(".") for dotted in named]
    prefixes = {".".join(split[:end]) for split in parts for end in range(1, len(split) + 1)}
    return {prefix for prefix in prefixes if module_file(prefix) is not None}


#: fw's layers, top first: a module may import its own layer's modules and those below.
LAYERS = (
    ("front", ("framework", "framework.testing")),
    ("cli", ("framework.cli",)),
    ("app", ("framework.app", "framework.framework_module")),
    ("server", ("framework.server",)),
    ("features", ("framework.http", "framework.rpc", "framework.jobs", "framework.realtime")),
    ("broker", ("framework.broker",)),
    ("base", ("framework.values", "framework.di", "framework.module", "framework.events",
              "framework.config", "framework.errors", "framework.metrics", "framework.process",
              "framework.compat", "framework.ratelimit", "framework.metrics_sum")),
)


def fw_modules() -> list[str]:
    """Every module of the framework package in this checkout, by dotted name."""
    names = []
    for path in sorted((REPO / "framework").rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts[-1] != "__main__":
            names.append(".".join(parts))
    return names


def named_imports(name: str) -> set[str]:
    """The fw modules that module ``name`` names in its imports (for ``from a import c``, the
    module ``a.c`` when there is one, else ``a``), without the packages Python runs on the
    way."""
    named = {base for base, names in import_statements(name) if not names}
    named.update(f"{base}.{each}" if module_file(f"{base}.{each}") else base
                 for base, names in import_statements(name) for each in names)
    return {dotted for dotted in named if dotted != name and module_file(dotted) is not None}


def layer_of(name: str) -> tuple[int, str]:
    """The rank (0 is the top) and name of the layer module ``name`` belongs to."""
    ranked = [(len(prefix), rank, layer) for rank, (layer, prefixes) in enumerate(LAYERS)
              for prefix in prefixes if name == prefix or name.startswith(f"{prefix}.")]
    assert ranked, f"{name} belongs to no layer of LAYERS"
    _, rank, layer = max(ranked)
    return rank, layer


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


def test_no_module_imports_one_of_a_layer_above_its_own() -> None:
    upward = []
    for name in fw_modules():
        rank, layer = layer_of(name)
        for imported in sorted(named_imports(name)):
            above, other = layer_of(imported)
            if above < rank:
                upward.append(f"{name} ({layer}) imports {imported} ({other})")
    assert len(fw_modules()) > 90, "the walk found too few modules to prove much"
    assert upward == []


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = {name: named_imports(name) for name in fw_modules()}
    cycles = []
    for start in graph:
        pending, seen = [[start]], {start}
        while pending:
            chain = pending.pop()
            for imported in sorted(graph[chain[-1]]):
                if imported == start:
                    cycles.append(" -> ".join([*chain, start]))
                elif imported not in seen:
                    seen.add(imported)
                    pending.append([*chain, imported])
    assert sorted(graph["framework.server.master.arbiter"]), "the graph has no edges"
    assert cycles == []
