"""One image through the model, timed stage by stage: decode, preprocess, inference, top-k.

Shared by the server's workers and the monolith, so that both do exactly the same work and their
timings can be compared.
"""

from __future__ import annotations

import time

import numpy as np

from ..images import DEFAULT_MAX_PIXELS, decode_image
from ..protocol import Prediction, Timings
from .classifier import Classifier


def classify_image(
    classifier: Classifier, image: bytes, top: int, max_pixels: int = DEFAULT_MAX_PIXELS,
    started: float | None = None,
) -> tuple[list[Prediction], Timings]:
    """The ``top`` predictions for an image file and the milliseconds each stage took.

    ``started`` (a ``time.perf_counter()`` value) lets a caller count its own parsing as decoding.
    Raises ``RequestError`` for an image that cannot be used.
    """
    started = time.perf_counter() if started is None else started
    pixels = decode_image(image, max_pixels=max_pixels)
    decoded = time.perf_counter()
    batch = classifier.preprocess(pixels[np.newaxis])
    preprocessed = time.perf_counter()
    probabilities = classifier.infer(batch)[0]
    inferred = time.perf_counter()
    predictions = classifier.top_predictions(probabilities, top)
    timings = Timings(
        decode=milliseconds(decoded - started),
        preprocess=milliseconds(preprocessed - decoded),
        inference=milliseconds(inferred - preprocessed),
        total=milliseconds(time.perf_counter() - started),
    )
    return predictions, timings


def milliseconds(seconds: float) -> float:
    return round(seconds * 1000.0, 3)
