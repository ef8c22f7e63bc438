"""Checks for notebook 07's exercises: ``time_requests``, ``median`` and ``speed_up``."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def nb07(load_answers):
    return load_answers("nb07_compare")


# --- time_requests: the timing loop, with a fake request and a fake stopwatch (milliseconds) ---

IMAGES = [Path("a.jpg"), Path("b.png"), Path("c.jpg")]
#: The fake stopwatch says the request numbered k (every request counted, warm-up ones too) took
#: this many seconds plus k, so that each timing shows which request it timed.
FAKE_SECONDS = 100.0


class Requests:
    """A fake ``call``: notes the image of every request, and raises on the ``fail_at``-th one."""

    def __init__(self, fail_at: int | None = None):
        self.images: list[Path] = []
        self.fail_at = fail_at

    def __call__(self, image: Path) -> str:
        self.images.append(image)
        if len(self.images) == self.fail_at:
            raise RuntimeError(f"request {len(self.images)} failed")
        return f"predictions for {image}"


@pytest.fixture
def requests(nb07, monkeypatch) -> Requests:
    """The fake requests, with the module's ``time_call`` replaced by a fake stopwatch that times them."""
    requests = Requests()

    def time_call(fn, *args, **kwargs):
        result = fn(*args, **kwargs)
        return result, FAKE_SECONDS + len(requests.images) - 1

    monkeypatch.setattr(nb07, "time_call", time_call)
    return requests


def _names(images: list[Path]) -> str:
    return ", ".join(image.name for image in images)


def test_time_requests_returns_one_timing_per_timed_request(nb07, requests, attempt):
    timings = attempt(nb07.time_requests, requests, IMAGES, 4, 2)
    assert isinstance(timings, list), f"return the timings as a list, not {type(timings).__name__}"
    if len(timings) == 6:
        pytest.fail("4 timed requests after 2 warm-up ones gave 6 timings: the warm-up requests are "
                    "timed too; return only the n timed ones", pytrace=False)
    assert len(timings) == 4, (
        f"asked for 4 timed requests, got {len(timings)} timings: one per timed request "
        "(off by one? range(n) gives n)"
    )


def test_time_requests_sends_the_warmup_first_untimed(nb07, requests, attempt):
    timings = attempt(nb07.time_requests, requests, IMAGES, 4, 2)
    from_the_stopwatch = [t for t in timings if t >= FAKE_SECONDS]
    if len(requests.images) <= 4:
        pytest.fail(f"{len(requests.images)} requests were sent for 4 timed ones after 2 warm-up "
                    "ones: no warm-up was sent; call call(image) warmup times first, untimed",
                    pytrace=False)
    timed_warmups = [round(t - FAKE_SECONDS) for t in from_the_stopwatch if t < FAKE_SECONDS + 2]
    assert not timed_warmups, (
        f"the warm-up requests (numbers {timed_warmups}) were timed: send them first without "
        "timing, and time only the n requests after them"
    )


def test_time_requests_takes_the_images_in_turn(nb07, requests, attempt):
    try:
        attempt(nb07.time_requests, requests, IMAGES, 4, 1)
    except IndexError:
        pytest.fail(f"5 requests with {len(IMAGES)} images raised IndexError: when the images run "
                    "out, start again from the first (images[k % len(images)])", pytrace=False)
    sent = requests.images
    if len(sent) > 1 and len(set(sent)) == 1:
        pytest.fail(f"every request sent the same image ({sent[0].name}): take the images in turn, "
                    "so that every way of serving sees all of them", pytrace=False)
    expected = [IMAGES[k % len(IMAGES)] for k in range(5)]
    assert sent == expected, (
        f"with 1 warm-up and 4 timed requests, request k gets images[k % len(images)]: expected "
        f"{_names(expected)}, sent {_names(sent)}"
    )


def test_time_requests_times_each_request_with_time_call(nb07, requests, attempt):
    timings = attempt(nb07.time_requests, requests, IMAGES, 3, 1)
    stopwatch = [FAKE_SECONDS + k for k in range(len(requests.images))]
    assert timings and all(t in stopwatch for t in timings), (
        f"the timings {timings} are not those of time_call: time each request with time_call "
        "(given at the top of the file, your stopwatch from notebook 02), not a clock of your own"
    )


def test_time_requests_lets_a_failing_request_raise(nb07, requests, expect_raises):
    requests.fail_at = 3
    expect_raises(RuntimeError, "request 3 raised RuntimeError: a failed request must be neither "
                  "timed nor skipped; let its exception through (no try/except around the call)",
                  nb07.time_requests, requests, IMAGES, 4, 1)


def test_time_requests_of_no_images_is_an_error(nb07, requests, expect_raises):
    expect_raises(ValueError, "with no images there is nothing to send: raise ValueError",
                  nb07.time_requests, requests, [], 3, 1)


# --- median and speed_up ---

def test_median_of_an_odd_count_is_the_middle_value(nb07, attempt):
    value = attempt(nb07.median, [3.0, 1.0, 2.0])
    assert value == 2.0, (
        f"the median of [3, 1, 2] is 2, not {value!r}: sort the values first, then take the middle one"
    )


def test_median_of_an_even_count_is_the_mean_of_the_middle_two(nb07, attempt):
    value = attempt(nb07.median, [1.0, 2.0, 3.0, 4.0])
    assert value == pytest.approx(2.5), (
        f"the median of [1, 2, 3, 4] is {value!r}, not (2 + 3) / 2 = 2.5: for an even count, take the "
        "mean of the two middle values"
    )


def test_median_leaves_the_callers_list_alone(nb07, attempt):
    samples = [3.0, 1.0, 2.0]
    attempt(nb07.median, samples)
    assert samples == [3.0, 1.0, 2.0], "median reordered the list it was given: use sorted(samples)"


def test_median_of_nothing_is_an_error(nb07, expect_raises):
    expect_raises(ValueError, "no samples have no median: check for an empty list and raise ValueError",
                  nb07.median, [])


def test_speed_up_is_before_divided_by_after(nb07, attempt):
    value = attempt(nb07.speed_up, [10.0, 11.0, 12.0], [0.2, 0.25, 0.3])
    if value == pytest.approx(0.25 / 11):
        pytest.fail(f"speed_up gave {value:.4f}, which is after divided by before (upside down): "
                    "divide the median before (11 s) by the median after (0.25 s)", pytrace=False)
    assert value == pytest.approx(44.0), (
        f"median before 11 s / median after 0.25 s = 44 times faster, not {value!r}"
    )


def test_speed_up_is_not_pulled_by_an_outlier(nb07, attempt):
    value = attempt(nb07.speed_up, [10.0, 10.0, 100.0], [1.0, 1.0, 1.0])
    assert isinstance(value, (int, float)) and value > 0, f"a speed-up is a positive number, not {value!r}"
    either_way_up = max(value, 1 / value)  # which way up is the other check's business
    assert either_way_up == pytest.approx(10.0), (
        f"one slow request (100 s among 10 s) moved the speed-up to {either_way_up:.3g}, not 10 "
        "(medians 10 s and 1 s): use medians, not means"
    )
