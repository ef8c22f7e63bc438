"""ResNet50 on TensorFlow (Keras): built once, with a compiled forward pass.

TensorFlow is imported inside ``ResNet50Classifier.load`` (and timed there), so importing this
module is cheap and the load-time breakdown the lab shows is honest. Its weights come from a
source that ``weights`` describes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..images import MODEL_INPUT_SIZE
from ..protocol import F32, TENSORFLOW
from .classifier import ResNet50Runtime
from .weights import (
    DEFAULT_SEED,
    UNTRAINED_WARNING,
    WeightsUnavailable,
    resolve_weights,
    save_untrained_weights,
    untrained_weights_file,
    warn_if_not_published,
    weights_label,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadTimings:
    """Seconds spent in each step of loading the model: what a per-request monolith pays."""

    import_tensorflow: float
    build_model: float
    load_weights: float
    first_inference: float

    @property
    def total(self) -> float:
        return self.import_tensorflow + self.build_model + self.load_weights + self.first_inference


@contextlib.contextmanager
def keras_without_plotting() -> Iterator[None]:
    """Let Keras and TensorFlow be imported without matplotlib, in a process that never plots.

    Keras imports ``matplotlib.pyplot`` at import time for its plotting helpers
    (``keras.visualization``), which slows every start of the model server when matplotlib is
    installed, as it is in the lab's environment. Hidden, Keras treats it as not
    installed; matplotlib can be imported normally afterwards. No effect once it is imported.
    """
    hide = "matplotlib" not in sys.modules
    if hide:
        sys.modules["matplotlib"] = None  # type: ignore[assignment]  # makes its import fail
    try:
        yield
    finally:
        if hide and sys.modules.get("matplotlib", False) is None:
            del sys.modules["matplotlib"]


def weights_file(source: str = "auto", seed: int = DEFAULT_SEED) -> Path:
    """The file a weights source is read from, saving the untrained seeded weights if needed."""
    path = resolve_weights(source)
    if path is not None:
        return path
    untrained = untrained_weights_file(seed)
    if not untrained.is_file():
        ResNet50Classifier.load("random", seed)
    return untrained


class ResNet50Classifier(ResNet50Runtime):
    """Keras ResNet50 built once, with a compiled forward pass; thread-safe for prediction."""

    runtime = TENSORFLOW
    precision = F32
    #: How long each step of ``load`` took; set by ``load`` once the model has answered its first
    #: inference, which is one of the steps.
    load_timings: LoadTimings

    def __init__(self, keras_model: Any, forward: Any, weights: str):
        self.weights = weights
        self._keras_model = keras_model
        self._forward = forward

    @property
    def keras_model(self) -> Any:
        """The Keras model itself, e.g. for converting it to another runtime."""
        return self._keras_model

    @classmethod
    def load(
        cls, weights: str = "auto", seed: int = DEFAULT_SEED, intra_op_threads: int = 0,
        inter_op_threads: int = 0,
    ) -> ResNet50Classifier:
        """Build the model from a weights source (see the module docstring) and warm it up.

        ``intra_op_threads`` (threads inside one operation) and ``inter_op_threads`` (operations
        run at once) set TensorFlow's thread pools; 0 lets TensorFlow choose (one per core).
        They take effect only in the first model a process loads.
        """
        started = time.perf_counter()
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras
        import tensorflow as tf

        _set_thread_pools(tf, intra_op_threads, inter_op_threads)

        imported = time.perf_counter()
        keras.utils.set_random_seed(seed)
        keras_model = keras.applications.ResNet50(weights=None)
        weights_path = resolve_weights(weights)
        if weights_path is None:
            log.warning(UNTRAINED_WARNING)
            untrained_path = untrained_weights_file(seed)
            if not untrained_path.is_file():
                save_untrained_weights(keras_model, seed)
        built = time.perf_counter()
        if weights_path is None:
            keras_model.load_weights(str(untrained_path))
        else:
            warn_if_not_published(weights_path)
            try:
                keras_model.load_weights(str(weights_path))
            except (OSError, ValueError) as error:
                raise WeightsUnavailable(
                    f"{weights_path} is not a ResNet50 weights file Keras can load: {error}"
                ) from None
        loaded = time.perf_counter()

        forward = tf.function(
            lambda pixels: keras_model(pixels, training=False),
            input_signature=[tf.TensorSpec((None, *MODEL_INPUT_SIZE, 3), tf.float32)],
        )
        classifier = cls(keras_model, forward, weights_label(weights_path))
        classifier.warm_up()
        warmed = time.perf_counter()
        classifier.load_timings = LoadTimings(
            import_tensorflow=imported - started,
            build_model=built - imported,
            load_weights=loaded - built,
            first_inference=warmed - loaded,
        )
        return classifier

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities, shape ``(n, 1000)``, for a preprocessed float32 batch."""
        probabilities: np.ndarray = self._forward(batch).numpy()
        return probabilities


def _set_thread_pools(tf: Any, intra_op_threads: int, inter_op_threads: int) -> None:
    threading_config = tf.config.threading
    wanted = (intra_op_threads, inter_op_threads)
    current = (threading_config.get_intra_op_parallelism_threads(),
               threading_config.get_inter_op_parallelism_threads())
    if wanted == current:
        return
    try:
        threading_config.set_intra_op_parallelism_threads(intra_op_threads)
        threading_config.set_inter_op_parallelism_threads(inter_op_threads)
    except RuntimeError:
        log.warning("TensorFlow is already running: thread settings %s are ignored (still %s)",
                    wanted, current)
