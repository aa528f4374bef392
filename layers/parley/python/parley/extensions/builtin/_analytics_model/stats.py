"""Small exact statistics over the facts' raw values, and UTC days."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p % of the values at or below it."""
    if not values:
        return None
    ranked = sorted(values)
    return round(ranked[max(0, math.ceil(p / 100 * len(ranked)) - 1)], 1)


def mean(total: float, count: int, digits: int = 1) -> float | None:
    return round(total / count, digits) if count else None


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def at(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def day_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


def days_between(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]
