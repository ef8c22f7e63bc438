"""ResNet50 with its weights, preprocessing and prediction: the only module that imports TensorFlow.

Weights come from a *source*:

- ``auto`` (default): the ImageNet weights from the Keras cache, else downloaded into it; if neither
  works within seconds, the same architecture with untrained, seeded weights and a loud warning.
- ``imagenet``: the ImageNet weights or a clear error naming the file to place in the cache.
- ``random``: untrained weights from a fixed seed, the same in every process and every restart.
  The first load saves them beside Keras' ImageNet file (``untrained_weights_file``, ~100 MB) and
  every load reads that file, so loading untrained weights costs what loading ImageNet's costs.
- a path to an ``.h5`` weights file.

Untrained ResNet50 ranks the same few classes first for nearly every image (the README says which):
its labels mean nothing, but it does exactly the same computation, so its timings are real.

TensorFlow is imported inside ``ResNet50Classifier.load`` (and timed there), so importing this
module is cheap and the load-time breakdown the lab shows is honest.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..images import MODEL_INPUT_SIZE
from .labels import imagenet_classes
from .preprocessing import preprocess_resnet50
from ..protocol import F32, IMAGENET, TENSORFLOW, UNTRAINED, Prediction

log = logging.getLogger("model_server.models.tensorflow_model")

MODEL_NAME = "resnet50"
WEIGHTS_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels.h5"
DEFAULT_SEED = 1234
#: How long ``auto`` waits for the weights download to start before using untrained weights.
DOWNLOAD_CONNECT_TIMEOUT_S = 5.0
#: How long a started download may stall before it is abandoned.
DOWNLOAD_READ_TIMEOUT_S = 30.0

UNTRAINED_WARNING = (
    "UNTRAINED WEIGHTS: this ResNet50 has random (seeded) weights, not the ImageNet ones. Its "
    "labels are meaningless; its timings are real. To get real predictions, place "
    f"{WEIGHTS_FILE} in ~/.keras/models/ (or let Keras download it once) and restart."
)


class WeightsUnavailable(RuntimeError):
    """The requested weights cannot be had; the message says what file to place where."""


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
    (``keras.visualization``), which costs about 0.5 s of the model server's start when
    matplotlib is installed, as it is in the lab's environment. Hidden, Keras treats it as not
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


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights: ``$KERAS_HOME/models`` or ``~/.keras/models``."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def untrained_weights_file(seed: int = DEFAULT_SEED) -> Path:
    """Where the seeded, untrained weights are kept once saved: beside Keras' ImageNet file."""
    return keras_cache_dir() / f"resnet50_untrained_seed{seed}.weights.h5"


def save_untrained_weights(keras_model: Any, seed: int) -> Path:
    """Save a freshly seeded model's weights once, so later loads read a file of the real size.

    Without this, untrained weights cost nothing to "load" and the monolith's load-weights stage
    would look free. Written to a temporary file and renamed, so a process starting at the same
    moment never reads a half-written file.
    """
    path = untrained_weights_file(seed)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name.removesuffix('.weights.h5')}.{os.getpid()}.{threading.get_ident()}.weights.h5")
    try:
        keras_model.save_weights(str(staging))
        staging.replace(path)
    finally:
        staging.unlink(missing_ok=True)
    log.info("saved the untrained seed-%d weights to %s", seed, path)
    return path


def weights_file(source: str = "auto", seed: int = DEFAULT_SEED) -> Path:
    """The file a weights source is read from, saving the untrained seeded weights if needed."""
    path = resolve_weights(source)
    if path is not None:
        return path
    untrained = untrained_weights_file(seed)
    if not untrained.is_file():
        ResNet50Classifier.load("random", seed)
    return untrained


def cached_imagenet_weights() -> Path | None:
    path = keras_cache_dir() / WEIGHTS_FILE
    return path if path.is_file() else None


def _imagenet_origin() -> tuple[str, str]:
    """The URL and MD5 Keras itself uses for ResNet50's ImageNet weights."""
    from keras.src.applications import resnet

    return resnet.BASE_WEIGHTS_PATH + WEIGHTS_FILE, resnet.WEIGHTS_HASHES["resnet50"][0]


def download_imagenet_weights(connect_timeout: float = DOWNLOAD_CONNECT_TIMEOUT_S) -> Path:
    """Download the ImageNet weights into the Keras cache, giving up if it does not start in time.

    The download runs in a daemon thread because a DNS lookup cannot be given a timeout; the file
    is written beside its final name and moved there only when complete and its MD5 matches.
    """
    url, expected_md5 = _imagenet_origin()
    target = keras_cache_dir() / WEIGHTS_FILE
    started = threading.Event()
    finished = threading.Event()
    outcome: dict[str, Any] = {}

    def fetch() -> None:
        partial = target.with_name(f"{target.name}.{os.getpid()}.part")
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_READ_TIMEOUT_S) as response:
                started.set()
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.md5()
                with open(partial, "wb") as out:
                    while chunk := response.read(1 << 20):
                        if outcome.get("abandoned"):
                            raise TimeoutError("abandoned")
                        digest.update(chunk)
                        out.write(chunk)
            if digest.hexdigest() != expected_md5:
                raise WeightsUnavailable(f"the downloaded {WEIGHTS_FILE} has the wrong MD5")
            partial.replace(target)
        except BaseException as error:  # reported to the waiting thread, never lost
            outcome["error"] = error
            partial.unlink(missing_ok=True)
        finally:
            started.set()
            finished.set()

    threading.Thread(target=fetch, name="weights-download", daemon=True).start()
    if not started.wait(connect_timeout):
        outcome["abandoned"] = True
        raise WeightsUnavailable(f"the weights download did not start within {connect_timeout:g} s")
    finished.wait()
    if "error" in outcome:
        error = outcome["error"]
        raise WeightsUnavailable(f"could not download the ImageNet weights: {error}") from error
    return target


def _file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_weights(source: str) -> Path | None:
    """The weights file a source means, or ``None`` for untrained weights.

    Raises ``WeightsUnavailable`` for a strict source that cannot be satisfied.
    """
    if source == "random":
        return None
    if source in ("auto", IMAGENET):
        cached = cached_imagenet_weights()
        if cached is not None:
            return cached
        try:
            return download_imagenet_weights()
        except WeightsUnavailable as error:
            if source == IMAGENET:
                raise WeightsUnavailable(
                    f"the ImageNet weights are not in the Keras cache and {error}. Place "
                    f"{WEIGHTS_FILE} in {keras_cache_dir()}/ (or set KERAS_HOME) and start again, "
                    "or use --weights random for untrained weights."
                ) from None
            log.warning("%s; using untrained weights", error)
            return None
    path = Path(source).expanduser()
    if not path.is_file():
        raise WeightsUnavailable(
            f"weights file {path} does not exist; use auto, imagenet, random or a path to an .h5 file"
        )
    return path


def weights_label(path: Path | None) -> str:
    """What replies call the weights from ``path``: imagenet, untrained, or the file's path."""
    if path is None:
        return UNTRAINED
    return IMAGENET if path.name == WEIGHTS_FILE else str(path)


class ResNet50Classifier:
    """Keras ResNet50 built once, with a compiled forward pass; thread-safe for prediction."""

    runtime = TENSORFLOW
    precision = F32

    def __init__(self, keras_model: Any, forward: Any, weights: str, load_timings: LoadTimings):
        self.model_name = MODEL_NAME
        self.weights = weights
        self.load_timings = load_timings
        self._keras_model = keras_model
        self._forward = forward

    @property
    def untrained(self) -> bool:
        return self.weights == UNTRAINED

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
            _warn_if_not_published(weights_path)
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
        classifier = cls(keras_model, forward, weights_label(weights_path), LoadTimings(0, 0, 0, 0))
        classifier.predict_batch(np.zeros((1, *MODEL_INPUT_SIZE, 3), np.uint8))
        warmed = time.perf_counter()
        classifier.load_timings = LoadTimings(
            import_tensorflow=imported - started,
            build_model=built - imported,
            load_weights=loaded - built,
            first_inference=warmed - loaded,
        )
        return classifier

    def preprocess(self, pixels: np.ndarray) -> np.ndarray:
        """ResNet50's own preprocessing (RGB→BGR, ImageNet mean subtracted) on a batch."""
        return preprocess_resnet50(pixels)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities, shape ``(n, 1000)``, for a preprocessed float32 batch."""
        return self._forward(batch).numpy()

    def predict_batch(self, pixels: np.ndarray) -> np.ndarray:
        """Probabilities for a uint8 batch of 224×224 RGB images."""
        return self.infer(self.preprocess(pixels))

    def top_predictions(self, probabilities: np.ndarray, top: int) -> list[Prediction]:
        """The ``top`` most probable classes of one image, most probable first."""
        return top_predictions(probabilities, top)


def top_predictions(probabilities: np.ndarray, top: int) -> list[Prediction]:
    """The ``top`` most probable ImageNet classes of one image, most probable first."""
    classes = imagenet_classes()
    order = np.argsort(probabilities)[::-1][:top]
    return [Prediction(classes[i].name, classes[i].wnid, float(probabilities[i])) for i in order]


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


def _warn_if_not_published(path: Path) -> None:
    if path.name != WEIGHTS_FILE:
        return
    try:
        _, expected_md5 = _imagenet_origin()
    except (ImportError, AttributeError, KeyError):
        return
    if _file_md5(path) != expected_md5:
        log.warning(
            "%s does not have the MD5 of the published ImageNet weights; predictions may be wrong",
            path,
        )
