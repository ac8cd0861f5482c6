"""bench/ stands on fw alone: no benchmark imports the tests' helpers (they share
framework.testing.broker_harness instead), so the suite can change without breaking a benchmark."""

from __future__ import annotations

import ast

from tests.support import REPO


def imported_modules(source: str) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
    return modules


def test_no_benchmark_imports_the_tests() -> None:
    benchmarks = sorted((REPO / "bench").glob("*.py"))
    assert len(benchmarks) >= 5, benchmarks
    offenders = {path.name: sorted(name for name in imported_modules(path.read_text())
                                   if name == "tests" or name.startswith("tests."))
                 for path in benchmarks}
    assert {name: found for name, found in offenders.items() if found} == {}
