"""A way of serving's request times summed up for a table: the median, the fastest and the slowest.

All durations are seconds, measured with ``time.perf_counter`` (monotonic, sub-microsecond).
The median, not the mean, because a few slow requests (a garbage collection, the first request on
a new connection) would drag a mean around; the fastest and slowest request show the spread. The
table's figures are ``harness.stats.spread``'s, as the benchmark's are.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.stats import spread


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
        """Unrounded: the learner's ``median`` (notebook 07) is checked against it."""
        return statistics.median(self.samples)

    @property
    def fastest(self) -> float:
        return min(self.samples)

    @property
    def slowest(self) -> float:
        return max(self.samples)

    def as_row(self) -> dict[str, Any]:
        """The summary as one table row, in seconds rounded to the millisecond."""
        figures = spread(self.samples, digits=3)
        return {"way": self.label, "requests": figures["rounds"], "median (s)": figures["median"],
                "fastest (s)": figures["min"], "slowest (s)": figures["max"]}


def summarise(label: str, samples: Sequence[float]) -> Summary:
    return Summary(label, tuple(float(s) for s in samples))
