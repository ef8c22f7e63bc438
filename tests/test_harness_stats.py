"""``harness.stats``: the one percentile, quartiles, spread and timed median every report uses."""

from __future__ import annotations

import pytest

from harness import stats
from harness.stats import median_seconds, percentile, quartiles, spread


def test_a_percentile_interpolates_between_ranks_and_is_rounded() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.5
    assert percentile(values, 99) == 99.01
    assert percentile([0.123456], 90, digits=3) == 0.123


def test_no_values_have_no_percentile() -> None:
    assert percentile([], 99) is None


def test_the_spread_of_runs_is_their_median_least_and_greatest() -> None:
    assert spread([3.0, 1.0, 2.0, 10.0]) == {"median": 2.5, "min": 1.0, "max": 10.0, "rounds": 4}


def test_quartiles_are_the_25th_50th_and_75th_percentiles() -> None:
    values = [float(v) for v in (7, 1, 3, 5, 9)]  # sorted: 1 3 5 7 9
    assert quartiles(values) == {"q1": 3.0, "median": 5.0, "q3": 7.0}
    assert quartiles([1.0, 2.0]) == {"q1": 1.25, "median": 1.5, "q3": 1.75}
    assert quartiles([1.0, 2.0]) == {key: percentile([1.0, 2.0], q) for key, q in
                                     (("q1", 25), ("median", 50), ("q3", 75))}


def test_no_values_have_no_quartiles() -> None:
    with pytest.raises(ValueError):
        quartiles([])


def test_the_median_time_of_a_call_times_each_call_and_not_the_warm_up(monkeypatch) -> None:
    clock = iter([0.0, 3.0, 10.0, 11.0, 20.0, 22.0])  # three calls: 3 s, 1 s and 2 s
    monkeypatch.setattr(stats.time, "perf_counter", lambda: next(clock))
    calls: list[int] = []
    assert median_seconds(lambda: calls.append(1), 3, warm_up=True) == 2.0
    assert len(calls) == 4
