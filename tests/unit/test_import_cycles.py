"""The layer has no import cycle, function-level and type-only imports included (`make lint` too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.import_cycles import cycles


def test_the_layer_has_no_import_cycle() -> None:
    # Given the layer's import graph (every import statement, wherever it sits)
    # When its strongly connected components are found
    # Then none holds more than one module
    assert cycles() == []


def test_a_cycle_through_a_function_level_import_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a package whose two modules import each other, one of them inside a function
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from cyclic import b\n")
    (package / "b.py").write_text("def late() -> None:\n    from cyclic import a\n")
    (package / "c.py").write_text("from cyclic import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    # When its cycles are counted, Then the pair is one cycle and the module that only imports is not
    assert cycles("cyclic") == [["cyclic.a", "cyclic.b"]]
