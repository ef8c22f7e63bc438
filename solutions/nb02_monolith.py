"""Notebook 02 exercises: a timing helper, and finding where the time goes."""

from __future__ import annotations

import time
from typing import Any, Callable


def time_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Call ``fn(*args, **kwargs)`` and return ``(its result, the seconds the call took)``."""
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def slowest_stage(stages: dict[str, float]) -> tuple[str, float]:
    """The slowest stage and its share of the total: ``(name, fraction between 0 and 1)``."""
    if not stages:
        raise ValueError("no stages to compare")
    name = max(stages, key=stages.__getitem__)
    return name, stages[name] / sum(stages.values())
