"""Notebook 02 exercises: a timing helper, finding where the time goes, and the monolith's handler."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


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


#: The stages ``handle_upload`` reports, in the order they happen.
HANDLER_STAGES = ("import_tensorflow", "build_model", "load_weights", "decode_image", "predict")


def handle_upload(image: bytes, weights_file: str, parts: Any, top: int = 3) -> tuple[list, dict[str, float]]:
    """What the monolith does for every upload: return ``(top predictions, seconds per stage)``."""
    stages = {}
    keras, stages["import_tensorflow"] = time_call(parts.import_tensorflow)
    model, stages["build_model"] = time_call(parts.build_model, keras)
    _, stages["load_weights"] = time_call(model.load_weights, weights_file)
    pixels, stages["decode_image"] = time_call(parts.decode_image, image)
    probabilities, stages["predict"] = time_call(parts.predict, model, pixels)
    return parts.top_predictions(probabilities, top), stages
