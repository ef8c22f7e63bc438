"""Notebook 02 exercises: a timing helper, finding where the time goes, and the monolith's handler."""

from __future__ import annotations

import time  # you will need it
from collections.abc import Callable
from typing import Any


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


#: The stages ``handle_upload`` reports, in the order they happen.
HANDLER_STAGES = ("import_tensorflow", "build_model", "load_weights", "decode_image", "predict")


def handle_upload(image: bytes, weights_file: str, parts: Any, top: int = 3) -> tuple[list, dict[str, float]]:
    """What the monolith does for every upload: return ``(top predictions, seconds per stage)``.

    ``parts`` holds one callable per step (``lab.monolith.parts.REAL_PARTS`` in the notebook,
    cheap fakes in the checks), so your code only puts them together, in this order:

    1. ``keras = parts.import_tensorflow()``
    2. ``model = parts.build_model(keras)``: ResNet50 with no weights yet;
    3. ``model.load_weights(weights_file)``: read the ~100 MB file;
    4. ``pixels = parts.decode_image(image)``;
    5. ``probabilities = parts.predict(model, pixels)``;

    and finally ``parts.top_predictions(probabilities, top)``. Time each of the five with your
    ``time_call`` and return the seconds in a dict keyed by the names in ``HANDLER_STAGES``.
    """
    raise NotImplementedError("write handle_upload in exercises/nb02_monolith.py")
