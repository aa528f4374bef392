"""Small, pure statistics shared by the benchmarks (unit-tested in tests/unit/test_bench_stats.py)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks (numpy's default).

    p50 of an even count is the mean of the two middle values, as ``statistics.median`` gives.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def ratio(value: float, baseline: float) -> float:
    if baseline <= 0:
        raise ValueError("the baseline must be positive")
    return value / baseline
