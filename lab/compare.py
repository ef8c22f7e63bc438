"""Notebook 07's table and speed-ups, computed with the learner's ``median`` and ``speed_up``.

The learner writes both in ``exercises/nb07_compare.py``; once written, the notebook's numbers come
from them (the reference answers until then, and ``lab.answers`` says which). A written answer
may still be wrong or raise: then each number says so beside it and the lab's own value stands in,
so that the notebook runs on and the learner sees where theirs differs.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import answers
from .timing import Summary

MODULE = "nb07_compare"
#: How far the learner's number may be from the lab's before it is called different (float rounding).
RELATIVE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Arithmetic:
    """The two functions the notebook computes with, whoever wrote them."""

    median: Callable[[Sequence[float]], float]
    speed_up: Callable[[Sequence[float], Sequence[float]], float]


def learners_arithmetic(quiet: bool = False) -> Arithmetic:
    """The learner's ``median`` and ``speed_up`` where written, else the reference ones (printed)."""
    return Arithmetic(answers.learner_or_reference(MODULE, "median", quiet=quiet),
                      answers.learner_or_reference(MODULE, "speed_up", quiet=quiet))


@dataclass(frozen=True)
class Checked:
    """A number from the learner's function, and the lab's when the two disagree or theirs failed."""

    value: float
    problem: str | None = None

    def text(self, digits: int = 3) -> str:
        shown = f"{self.value:.{digits}f}"
        return shown if self.problem is None else f"{shown} ({self.problem})"


def checked(name: str, theirs: Callable[..., Any], ours: float, *args: Sequence[float]) -> Checked:
    """Call ``theirs``; a failure or a number other than ``ours`` is reported and ``ours`` used."""
    try:
        value = theirs(*(list(arg) for arg in args))
    except Exception as error:  # the learner's code: show what went wrong, carry on
        return Checked(ours, f"{name} raised {type(error).__name__}: {error}; the lab's value shown")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isclose(
            value, ours, rel_tol=RELATIVE_TOLERANCE):
        return Checked(ours, f"{name} gave {value!r}, the lab {ours:.6g}; the lab's value shown")
    return Checked(float(value))


def summary_rows(summaries: Sequence[Summary], arithmetic: Arithmetic) -> list[dict[str, Any]]:
    """The table of notebook 07, its median column computed by ``arithmetic.median``."""
    rows = []
    for summary in summaries:
        row = summary.as_row()
        row["median (s)"] = checked("median", arithmetic.median, statistics.median(summary.samples),
                                    summary.samples).text()
        rows.append(row)
    return rows


def speed_ups(pairs: Mapping[str, tuple[Summary, Summary]], arithmetic: Arithmetic) -> dict[str, Checked]:
    """``label → (before, after)`` as ``label → how many times faster``, by ``arithmetic.speed_up``."""
    return {label: checked("speed_up", arithmetic.speed_up,
                           statistics.median(before.samples) / statistics.median(after.samples),
                           before.samples, after.samples)
            for label, (before, after) in pairs.items()}
