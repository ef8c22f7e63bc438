"""``harness.stats``: the one percentile and the one spread every report uses."""

from __future__ import annotations

from harness.stats import percentile, spread


def test_a_percentile_interpolates_between_ranks_and_is_rounded() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.5
    assert percentile(values, 99) == 99.01
    assert percentile([0.123456], 90, digits=3) == 0.123


def test_no_values_have_no_percentile() -> None:
    assert percentile([], 99) is None


def test_the_spread_of_runs_is_their_median_least_and_greatest() -> None:
    assert spread([3.0, 1.0, 2.0, 10.0]) == {"median": 2.5, "min": 1.0, "max": 10.0, "rounds": 4}
