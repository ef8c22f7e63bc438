"""Checks for notebook 07's exercises: ``median`` and ``speed_up``."""

from __future__ import annotations

import pytest


@pytest.fixture
def nb07(load_answers):
    return load_answers("nb07_compare")


def test_median_of_an_odd_count_is_the_middle_value(nb07, attempt):
    assert attempt(nb07.median, [3.0, 1.0, 2.0]) == 2.0, (
        "the median of [3, 1, 2] is 2: sort the values first, then take the middle one"
    )


def test_median_of_an_even_count_is_the_mean_of_the_middle_two(nb07, attempt):
    value = attempt(nb07.median, [4.0, 1.0, 3.0, 2.0])
    assert value == pytest.approx(2.5), f"the median of [1, 2, 3, 4] is (2 + 3) / 2 = 2.5, not {value!r}"


def test_median_leaves_the_callers_list_alone(nb07, attempt):
    samples = [3.0, 1.0, 2.0]
    attempt(nb07.median, samples)
    assert samples == [3.0, 1.0, 2.0], "median reordered the list it was given: use sorted(samples)"


def test_median_of_nothing_is_an_error(nb07, expect_raises):
    expect_raises(ValueError, "no samples have no median: check for an empty list and raise ValueError",
                  nb07.median, [])


def test_speed_up_is_the_ratio_of_medians(nb07, attempt):
    value = attempt(nb07.speed_up, [10.0, 12.0, 11.0], [0.2, 0.25, 0.3])
    assert value == pytest.approx(44.0), (
        f"median before 11 s / median after 0.25 s = 44 times faster, not {value!r} "
        "(before divided by after)"
    )


def test_speed_up_is_not_pulled_by_an_outlier(nb07, attempt):
    value = attempt(nb07.speed_up, [10.0, 10.0, 100.0], [1.0, 1.0, 1.0])
    assert value == pytest.approx(10.0), (
        f"expected 10 (medians 10 s and 1 s), got {value!r}: use medians, not means"
    )
