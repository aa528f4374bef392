"""Tests share helpers through tests/support (and tests/unit's helper modules), never by importing
another test module: such an import runs that module's fixtures and imports, hides a dependency
between two test files, and, inside a test function, escapes the import-cycle check."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def imported_test_modules(source: str) -> list[str]:
    """The ``test_*`` modules this source imports, at any depth (a function's imports included)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            # ``from tests.integration import test_realtime`` imports a test module too
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [n for n in names if n.startswith("tests.") and n.rsplit(".", 1)[-1].startswith("test_")]
    return found


def test_the_check_sees_an_import_inside_a_function() -> None:
    source = "def test_x():\n    from tests.integration.test_other import helper\n"
    assert imported_test_modules(source) == ["tests.integration.test_other"]
    assert imported_test_modules("from tests.integration import test_other\n") == [
        "tests.integration.test_other"
    ]
    assert imported_test_modules("import tests.support.api\nfrom tests.unit.chats import T0\n") == []


def test_no_test_module_imports_another() -> None:
    offenders = {
        str(path.relative_to(TESTS)): modules
        for path in sorted(TESTS.rglob("*.py"))
        if (modules := imported_test_modules(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, "move the shared helpers to tests/support and import them from there"
