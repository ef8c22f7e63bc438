"""Notebook 07 exercises: the two numbers behind the comparison."""

from __future__ import annotations

from collections.abc import Sequence


def median(samples: Sequence[float]) -> float:
    """The middle value of ``samples`` once sorted; for an even count, the mean of the two middle ones.

    Do not reorder the caller's list (sort a copy). Raise ``ValueError`` for no samples.
    Write it yourself rather than calling ``statistics.median``.
    """
    raise NotImplementedError("write median in exercises/nb07_compare.py")


def speed_up(before: Sequence[float], after: Sequence[float]) -> float:
    """How many times faster ``after`` is than ``before``: the ratio of their medians.

    ``before`` and ``after`` are seconds per request. Medians, not means: one slow outlier must
    not change the answer much.
    """
    raise NotImplementedError("write speed_up in exercises/nb07_compare.py")
