"""Notebook 07 exercises: the two numbers behind the comparison."""

from __future__ import annotations

from collections.abc import Sequence


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
