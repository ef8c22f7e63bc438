"""The figures every measurement reports: a percentile, the quartiles, the spread of repeated runs,
and the median time of a repeated call.

One definition each, so that "p99" means the same in a notebook, a benchmark and a test:
NumPy's linear interpolation between the closest ranks, rounded for a table.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np


class MeasurementFailed(RuntimeError):
    """A measurement that cannot be reported: a request failed, or the measuring process did not answer."""


def percentile(values: Sequence[float], q: float, digits: int = 2) -> float | None:
    """The ``q``-th percentile (0–100) of ``values``, rounded; ``None`` for no values."""
    if not values:
        return None
    return round(float(np.percentile(values, q)), digits)


def spread(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    """The median, least and greatest of repeated runs, and how many there were."""
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "rounds": len(values)}


def quartiles(values: Sequence[float], digits: int = 2) -> dict[str, float]:
    """The first quartile, the median and the third quartile of ``values`` (percentiles 25, 50
    and 75, as ``percentile`` computes them): half the values lie between ``q1`` and ``q3``."""
    if not values:
        raise ValueError("quartiles of no values")
    q1, median, q3 = (round(float(q), digits) for q in np.percentile(values, [25, 50, 75]))
    return {"median": median, "q1": q1, "q3": q3}


def median_seconds(call: Callable[[], object], repeats: int, warm_up: bool = False) -> float:
    """The median wall time of ``repeats`` calls of ``call``, after one untimed call with ``warm_up``."""
    if warm_up:
        call()
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)
