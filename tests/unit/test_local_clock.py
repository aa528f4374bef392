"""The local stack's tick clock: the wall clock plus an offset that only moves forward."""

from __future__ import annotations

from datetime import timedelta

import pytest

from infra.local.clock import MAX_ADVANCE_SECONDS, LocalClock
from parley.clock import utc_now


def test_advancing_moves_the_ticks_time_forward_and_never_back() -> None:
    clock = LocalClock()
    before = utc_now()
    moved = clock.advance(3600)
    assert moved - before >= timedelta(hours=1)
    assert clock.snapshot()["offset_seconds"] == 3600
    for bad in (-1, MAX_ADVANCE_SECONDS + 1):
        with pytest.raises(ValueError, match="advance_seconds"):
            clock.advance(bad)
    assert clock.snapshot()["offset_seconds"] == 3600
