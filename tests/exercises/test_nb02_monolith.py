"""Checks for notebook 02's exercises: ``time_call`` and ``slowest_stage``."""

from __future__ import annotations

import time

import pytest


@pytest.fixture
def nb02(load_answers):
    return load_answers("nb02_monolith")


def test_time_call_returns_the_result_of_the_call(nb02, attempt):
    outcome = attempt(nb02.time_call, lambda: 42)
    assert isinstance(outcome, tuple) and len(outcome) == 2, (
        f"time_call should return a pair (result, seconds), not {outcome!r}"
    )
    assert outcome[0] == 42, f"the first item should be what the function returned (42), not {outcome[0]!r}"


def test_time_call_passes_the_arguments_on(nb02, attempt):
    result, _ = attempt(nb02.time_call, lambda a, b=0: a - b, 10, b=3)
    assert result == 7, "time_call(fn, *args, **kwargs) must call fn(*args, **kwargs)"


def test_time_call_measures_seconds(nb02, attempt):
    _, seconds = attempt(nb02.time_call, time.sleep, 0.05)
    assert isinstance(seconds, float), f"return the seconds as a float, not {type(seconds).__name__}"
    assert seconds < 10, (
        f"a 0.05 s sleep took {seconds:g}: that looks like milliseconds; return seconds"
    )
    assert seconds >= 0.045, (
        f"a 0.05 s sleep was measured as {seconds:g} s: start the clock before the call "
        "and stop it after"
    )
    assert seconds < 1.0, f"a 0.05 s sleep was measured as {seconds:g} s: time only the call"


def test_slowest_stage_names_the_slowest_and_its_share(nb02, attempt):
    name, share = attempt(nb02.slowest_stage, {"import": 3.0, "build": 1.0})
    assert name == "import", f"'import' took 3.0 s of 4.0 s: it is the slowest, not {name!r}"
    assert share == pytest.approx(0.75), (
        f"the share should be a fraction of the total (3.0 / 4.0 = 0.75), not {share!r}"
    )


def test_slowest_stage_of_nothing_is_an_error(nb02, expect_raises):
    expect_raises(ValueError, "with no stages there is no slowest: raise ValueError",
                  nb02.slowest_stage, {})
