"""Measuring and summarising latencies: one stopwatch and one summary for every notebook.

All durations are seconds, measured with ``time.perf_counter`` (monotonic, sub-microsecond).
A summary gives the median, not the mean, because a few slow requests (a garbage collection, the
first request on a new connection) would drag a mean around; the fastest and slowest request show
the spread.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def time_call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, float]:
    """Call ``fn`` and return its result and the seconds it took."""
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


@dataclass(frozen=True)
class Summary:
    """The latencies of one way of serving the model, in seconds."""

    label: str
    samples: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.samples:
            raise ValueError(f"no measurements for {self.label!r}: nothing to summarise")

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def fastest(self) -> float:
        return min(self.samples)

    @property
    def slowest(self) -> float:
        return max(self.samples)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.samples)

    def as_row(self) -> dict[str, Any]:
        """The summary as one table row, in seconds rounded to the millisecond."""
        return {
            "way": self.label,
            "requests": self.n,
            "median (s)": round(self.median, 3),
            "fastest (s)": round(self.fastest, 3),
            "slowest (s)": round(self.slowest, 3),
        }


def summarise(label: str, samples: Sequence[float]) -> Summary:
    return Summary(label, tuple(float(s) for s in samples))


def speed_up(before: Summary, after: Summary) -> float:
    """How many times faster ``after`` answers than ``before``, by their medians."""
    return before.median / after.median


def distance_to_range(value: float, low: float, high: float) -> float:
    """How far ``value`` is outside ``[low, high]``, as a ratio on a log scale (0 inside)."""
    if low <= value <= high:
        return 0.0
    return abs(math.log(value / (low if value < low else high)))


def closest_to_range(low: float, high: float, candidates: Mapping[str, float]) -> str:
    """The name of the candidate whose value lies in, or nearest to, ``[low, high]``."""
    if not candidates:
        raise ValueError("no candidates to compare with the range")
    return min(candidates, key=lambda name: distance_to_range(candidates[name], low, high))
