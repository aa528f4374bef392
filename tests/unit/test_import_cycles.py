"""The layer has no import cycle, function-level and type-only imports included (`make lint` too)."""

from __future__ import annotations

from scripts.import_cycles import cycles


def test_the_layer_has_no_import_cycle() -> None:
    # Given the layer's import graph (every import statement, wherever it sits)
    # When its strongly connected components are found
    # Then none holds more than one module
    assert cycles() == []
