"""The composition root: every factory is forgotten by reset(), without a hand-kept list."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from parley import root
from parley.settings import settings

LAYER_ONLY = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "layers/parley/python")}
"""A child that imports this worktree's layer, whatever the venv's own paths hold."""


def test_a_new_component_is_reset_without_being_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a factory declared as a component, nowhere listed by hand
    monkeypatch.setattr(root, "_CACHE_CLEARS", list(root._CACHE_CLEARS))
    built: list[object] = []

    @root.component
    def widget() -> object:
        built.append(object())
        return built[-1]

    # When it is asked twice, then the root is reset and it is asked again
    first, again = widget(), widget()
    root.reset()
    after = widget()

    # Then it was built once per process, and built anew after the reset
    assert first is again
    assert after is not first
    assert built == [first, after]


def test_every_cached_factory_of_the_root_is_a_component() -> None:
    # Given every factory of the root that caches what it builds (anything with cache_clear)
    cached = {
        name: value.cache_clear
        for name, value in vars(root).items()
        if callable(value) and hasattr(value, "cache_clear")
    }

    # Then each one's cache is cleared by reset() (a plain @cache would leak between tests)
    assert cached
    missing = [name for name, clear in cached.items() if clear not in root._CACHE_CLEARS]
    assert missing == []


def test_reset_forgets_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given settings read from the environment
    monkeypatch.setenv("PARLEY_BUS_NAME", "bus-one")
    root.reset()
    assert settings().bus_name == "bus-one"

    # When the environment changes and the root is reset
    monkeypatch.setenv("PARLEY_BUS_NAME", "bus-two")
    root.reset()

    # Then the new value is read
    assert settings().bus_name == "bus-two"


def test_importing_the_root_builds_and_imports_no_collaborator() -> None:
    # each factory imports what it builds: a handler loads only the collaborators it asks for
    code = (
        "import sys, parley.root; "
        "print(sorted(m for m in sys.modules if m.startswith(('parley.adapters', 'parley.services', "
        "'parley.ai', 'parley.realtime', 'boto3', 'pynamodb'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=LAYER_ONLY, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
