"""One image through the model, timed stage by stage: decode, preprocess, inference, top-k, and
the reply that says so.

Shared by the server's workers and the monolith, so that both do exactly the same work, time it
the same way and name the same model in their replies: their timings can be compared.
"""

from __future__ import annotations

import time

import numpy as np

from ..images import DEFAULT_MAX_PIXELS, decode_image
from ..protocol import Prediction, PredictReply, Timings
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
    timings = stage_timings(started, decoded, (preprocessed - decoded) * 1000.0,
                            (inferred - preprocessed) * 1000.0)
    return predictions, timings


def stage_timings(started: float, decoded: float, preprocess_ms: float, inference_ms: float,
                  queue_ms: float = 0.0) -> Timings:
    """The ``Timings`` of a request that began at ``started`` and was decoded at ``decoded``
    (``time.perf_counter()`` values), its total up to now; milliseconds to the microsecond."""
    return Timings(
        decode=milliseconds(decoded - started),
        preprocess=round(preprocess_ms, 3),
        inference=round(inference_ms, 3),
        total=milliseconds(time.perf_counter() - started),
        queue=round(queue_ms, 3),
    )


def reply_from(
    classifier: Classifier, predictions: list[Prediction], timings: Timings, request_id: str | None = None,
    batch: int = 1, worker: str | None = None,
) -> PredictReply:
    """The reply carrying ``classifier``'s predictions: it names the model, the weights, the runtime
    and the precision that answered."""
    return PredictReply(
        predictions, classifier.weights, classifier.model_name, timings, request_id, batch=batch,
        worker=worker, runtime=classifier.runtime, precision=classifier.precision,
    )


def milliseconds(seconds: float) -> float:
    return round(seconds * 1000.0, 3)
