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
    """Send ``warmup`` requests untimed, then ``n`` timed ones; return the ``n`` timings in seconds.

    One request is ``call(image)``. Take the images in turn, starting again from the first when
    they run out, so that every way of serving the model sees the same images: request number
    ``k`` (warm-up requests counted) gets ``images[k % len(images)]``. Time each request with
    ``time_call`` above, not a clock of your own. A request that raises must not be timed or
    skipped: let its exception through. Raise ``ValueError`` if ``images`` is empty.
    """
    raise NotImplementedError("write time_requests in exercises/nb07_compare.py")


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
