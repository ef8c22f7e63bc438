"""Notebook 07 exercises: the timing loop and the two numbers behind the comparison."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lab.learner import answers

#: Your stopwatch from notebook 02 (``exercises/nb02_monolith.py``); the reference one until yours is
#: written, and importing this module says which.
time_call = answers.learner_or_reference("nb02_monolith", "time_call")


def time_requests(call: Callable[[Path], Any], images: Sequence[Path], n: int, warmup: int) -> list[float]:
    """Send ``warmup`` requests untimed, then ``n`` timed ones; return the ``n`` timings in seconds."""
    if not images:
        raise ValueError("no images to send")
    for k in range(warmup):
        call(images[k % len(images)])
    timings = []
    for k in range(warmup, warmup + n):
        _, seconds = time_call(call, images[k % len(images)])
        timings.append(seconds)
    return timings


def median(samples: Sequence[float]) -> float:
    """The middle value of ``samples`` once sorted; for an even count, the mean of the two middle ones."""
    if not samples:
        raise ValueError("no samples: a median needs at least one")
    ordered = sorted(samples)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def speed_up(before: Sequence[float], after: Sequence[float]) -> float:
    """How many times faster ``after`` is than ``before``: the ratio of their medians."""
    return median(before) / median(after)
