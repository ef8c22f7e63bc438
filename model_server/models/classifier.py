"""What the server, the batcher and the monolith need of a model, whichever runtime runs it.

``tensorflow_model.ResNet50Classifier`` and ``openvino_model.OpenVINOClassifier`` are the two
classifiers; ``runtimes.load_classifier`` loads the one the settings ask for.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..protocol import PRECISIONS, RUNTIMES, Prediction

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
