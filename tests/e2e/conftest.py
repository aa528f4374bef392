"""End-to-end tests: the real local stack in a subprocess, over real HTTP and WebSocket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.stack import running_stack


@pytest.fixture(scope="session")
def stack() -> Iterator[str]:
    with running_stack() as base:
        yield base
