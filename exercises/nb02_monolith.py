"""Notebook 02 exercises: a timing helper, and finding where the time goes."""

from __future__ import annotations

import time  # noqa: F401 (you will need it)
from typing import Any, Callable


def time_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Call ``fn(*args, **kwargs)`` and return ``(its result, the seconds the call took)``.

    Read the clock with ``time.perf_counter()`` just before and just after the call: unlike
    ``time.time()`` it never jumps when the system clock is adjusted. Return seconds as a float,
    not milliseconds.
    """
    raise NotImplementedError("write time_call in exercises/nb02_monolith.py")


def slowest_stage(stages: dict[str, float]) -> tuple[str, float]:
    """The slowest stage and its share of the total: ``(name, fraction between 0 and 1)``.

    ``stages`` maps a stage's name to its seconds, e.g. ``{"import": 3.0, "build": 1.0}`` gives
    ``("import", 0.75)``. Raise ``ValueError`` if ``stages`` is empty.
    """
    raise NotImplementedError("write slowest_stage in exercises/nb02_monolith.py")
