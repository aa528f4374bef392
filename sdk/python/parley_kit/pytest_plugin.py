"""Pytest fixtures for an extension's own repository (the distribution's ``pytest11`` entry point).

    def test_it_counts(parley_harness: HarnessFactory) -> None:
        harness = parley_harness(extension, config={"limit": 2})
        harness.post("user-alice", "one")
        assert harness.store.get("count") == 1

``parley_harness(extension, **options)`` builds a ``parley_kit.testing.Harness`` (options as its
constructor's) and gives the extension its previous ports back after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from parley.extensions.sdk import Extension
from parley_kit.testing import Harness

HarnessFactory = Callable[..., Harness]


@pytest.fixture
def parley_harness() -> Iterator[HarnessFactory]:
    made: list[Harness] = []

    def make(extension: Extension[Any], **options: Any) -> Harness:
        harness = Harness(extension, **options)
        made.append(harness)
        return harness

    yield make
    for harness in reversed(made):
        harness.close()
