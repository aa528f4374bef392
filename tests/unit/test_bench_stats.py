"""The benchmark's statistics (bench/stats.py): percentiles as numpy's default computes them."""

from __future__ import annotations

import pytest

from bench.stats import median, percentile, ratio


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 25) == pytest.approx(1.75)


def test_p99_of_a_hundred_values_sits_between_the_two_largest() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 99) == pytest.approx(99.01)


def test_percentile_ignores_input_order_and_agrees_with_median() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 50) == median(values) == 3.0
    assert percentile([7.0], 99) == 7.0


@pytest.mark.parametrize("q", [-1, 101])
def test_percentile_rejects_out_of_range_quantiles(q: float) -> None:
    with pytest.raises(ValueError, match="q must be"):
        percentile([1.0], q)


def test_statistics_of_nothing_are_errors() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="no values"):
        median([])


def test_ratio_needs_a_positive_baseline() -> None:
    assert ratio(300.0, 200.0) == 1.5
    with pytest.raises(ValueError, match="positive"):
        ratio(1.0, 0.0)
