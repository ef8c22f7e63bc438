"""What the server, the batcher and the monolith need of a model, whichever runtime runs it.

``tensorflow_model.ResNet50Classifier`` and ``openvino_model.OpenVINOClassifier`` are the two
classifiers, both ``ResNet50Runtime``s: the same preprocessing and the same reading of the
probabilities, only the forward pass differs. ``runtimes.load_classifier`` loads the one the
settings ask for.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..images import MODEL_INPUT_SIZE
from ..protocol import PRECISIONS, RUNTIMES, UNTRAINED, Prediction
from .labels import top_predictions
from .preprocessing import preprocess_resnet50

#: The model every runtime runs, as replies name it.
MODEL_NAME = "resnet50"


class RuntimeUnavailable(RuntimeError):
    """The runtime or precision asked for cannot run here; the message says what to do instead."""


def check_choice(runtime: str, precision: str) -> None:
    """Raise ``ValueError`` for a runtime or precision no classifier offers.

    The one check of both names: the settings' ``validate``, ``runtimes.load_classifier`` and
    ``OpenVINOClassifier.load`` all call it.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; use {' or '.join(RUNTIMES)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use {' or '.join(PRECISIONS)}")


class Classifier(Protocol):
    """A loaded model: preprocessing, a forward pass, and its top classes."""

    model_name: str
    weights: str
    #: ``protocol.TENSORFLOW`` or ``protocol.OPENVINO``, and ``protocol.F32`` or ``protocol.BF16``.
    runtime: str
    precision: str

    @property
    def load_timings(self) -> object:
        """How long loading took, stage by stage (a dataclass; each runtime has stages of its own)."""

    def preprocess(self, pixels: np.ndarray) -> np.ndarray: ...

    def infer(self, batch: np.ndarray) -> np.ndarray: ...

    def top_predictions(self, probabilities: np.ndarray, top: int) -> list[Prediction]: ...


class ResNet50Runtime:
    """ResNet50 on one runtime: everything but the forward pass (``infer``), which each runtime
    brings. Sharing the rest keeps the runtimes' answers comparable: they differ only in the
    model's arithmetic."""

    model_name = MODEL_NAME
    weights: str

    @property
    def untrained(self) -> bool:
        return self.weights == UNTRAINED

    def preprocess(self, pixels: np.ndarray) -> np.ndarray:
        """ResNet50's own preprocessing (RGB→BGR, ImageNet mean subtracted) on a batch."""
        return preprocess_resnet50(pixels)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities, shape ``(n, 1000)``, for a preprocessed float32 batch."""
        raise NotImplementedError

    def predict_batch(self, pixels: np.ndarray) -> np.ndarray:
        """Probabilities for a uint8 batch of 224×224 RGB images."""
        return self.infer(self.preprocess(pixels))

    def top_predictions(self, probabilities: np.ndarray, top: int) -> list[Prediction]:
        """The ``top`` most probable classes of one image, most probable first."""
        return top_predictions(probabilities, top)

    def warm_up(self) -> None:
        """One forward pass of a black image: the first pass traces or allocates, so that a
        loaded model answers its first request as fast as the rest."""
        self.predict_batch(np.zeros((1, *MODEL_INPUT_SIZE, 3), np.uint8))
