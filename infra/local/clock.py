"""The time the local stack's scheduled ticks are for: the wall clock plus an offset that only moves
forward (``POST /local/clock``), so a test or a developer reaches a schedule's next slot without
waiting for it. Handlers still read the wall clock: only what a tick is for moves."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from parley.clock import utc_now

MAX_ADVANCE_SECONDS = 366 * 24 * 3600


class LocalClock:
    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return utc_now() + self._offset

    def advance(self, seconds: float) -> datetime:
        """Move forward by ``seconds`` (0 to a year; time never runs back, so no slot runs twice)."""
        if not 0 <= seconds <= MAX_ADVANCE_SECONDS:
            raise ValueError(f"advance_seconds must be between 0 and {MAX_ADVANCE_SECONDS}")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            offset = self._offset
        return {"now": (utc_now() + offset).isoformat(), "offset_seconds": offset.total_seconds()}
