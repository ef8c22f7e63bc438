"""The real parts notebook 02's ``handle_upload`` puts together: TensorFlow, ResNet50, Pillow.

The exercise takes its parts as an argument so that the checks can hand it cheap fakes and run in
milliseconds, while the notebook hands it these, in a fresh process per request, and measures the
real cost. TensorFlow is imported only when ``import_tensorflow`` is called, so that stage is timed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from model_server.images import decode_image
from model_server.models.labels import top_predictions
from model_server.models.preprocessing import preprocess_resnet50
from model_server.protocol import Prediction


@dataclass(frozen=True)
class MonolithParts:
    """What one monolith request needs, one callable per stage."""

    import_tensorflow: Callable[[], Any]
    build_model: Callable[[Any], Any]
    decode_image: Callable[[bytes], np.ndarray]
    predict: Callable[[Any, np.ndarray], np.ndarray]
    top_predictions: Callable[[np.ndarray, int], list[Prediction]]


def _import_keras() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow  # noqa: F401 (Keras' backend: imported here so that this stage pays for it)

    return keras


def _build_resnet50(keras: Any) -> Any:
    """The architecture only (``weights=None``): the weights come from the file, as in the monolith."""
    return keras.applications.ResNet50(weights=None)


def _decode_batch(image: bytes) -> np.ndarray:
    """One uploaded image as a batch of one 224×224 RGB picture."""
    return decode_image(image)[np.newaxis]


def _predict(model: Any, pixels: np.ndarray) -> np.ndarray:
    """Probabilities for each class of each picture (ResNet50's own preprocessing first)."""
    return np.asarray(model(preprocess_resnet50(pixels), training=False))


def _top_of_first(probabilities: np.ndarray, top: int) -> list[Prediction]:
    return top_predictions(probabilities[0], top)


REAL_PARTS = MonolithParts(_import_keras, _build_resnet50, _decode_batch, _predict, _top_of_first)
