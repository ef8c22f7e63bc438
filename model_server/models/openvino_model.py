"""ResNet50 on OpenVINO: the same Keras model, converted once to OpenVINO's IR and kept on disk.

The first start with a given set of weights builds the Keras model (through ``tensorflow_model``,
so it imports TensorFlow), converts it with ``openvino.convert_model`` and saves the IR (``.xml``
for the graph, ``.bin`` for the weights, in f32) in the cache folder. The cache key is made of the
weights (a SHA-256 of the file, or the seed of untrained weights) and the versions of Keras,
TensorFlow and OpenVINO, so new weights or a new converter never reuse a stale IR. Every later
start reads the IR and compiles it without importing TensorFlow, the slowest step of a start.

Precision is chosen when compiling, not when converting: one IR serves both. ``f32`` is set
explicitly (OpenVINO would otherwise pick bf16 on its own on CPUs that have it); ``bf16`` is
refused, with a message, on a CPU that OpenVINO says cannot do it.

Preprocessing and the reading of the probabilities are the TensorFlow runtime's too
(``classifier.ResNet50Runtime``), so the two runtimes differ only in the model's arithmetic.

OpenVINO's model converter sends usage statistics unless the user opted out; ``import_openvino``
makes it use the converter's own do-nothing stand-in instead, so nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..protocol import BF16, F32, OPENVINO
from .classifier import MODEL_NAME, ResNet50Runtime, RuntimeUnavailable, check_choice
from .weights import DEFAULT_SEED, UNTRAINED_WARNING, resolve_weights, weights_label

log = logging.getLogger(__name__)

#: The OpenVINO device: this lab serves from the CPU.
DEVICE = "CPU"
#: Names of the IR's files inside its cache entry, and of the note saying what it holds.
IR_XML = f"{MODEL_NAME}.xml"
IR_INFO = "info.json"
#: The cache's note of each weights file's fingerprint, by path, size and modification time.
FINGERPRINTS = "weights-fingerprints.json"
#: The packages whose versions key the cache: a new one may convert or build differently.
KEYED_PACKAGES = ("keras", "tensorflow", "openvino")
#: The CPU capability OpenVINO lists when it can compute in bf16 (AVX512_BF16 or AMX).
BF16_CAPABILITY = "BF16"
#: The package name of OpenVINO's usage statistics, which the converter imports if it can.
TELEMETRY_PACKAGE = "openvino_telemetry"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/resnet_zmq_lab/openvino``, by default under ``~/.cache``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "resnet_zmq_lab" / "openvino"


def import_openvino() -> Any:
    """``import openvino``, with its converter's telemetry switched off for this process.

    The converter does ``import openvino_telemetry`` and falls back to a do-nothing stub when
    that fails; a ``None`` entry in ``sys.modules`` makes it fail. (For the whole machine,
    ``opt_in_out --opt_out`` records the same choice in ``~/intel/openvino_telemetry``.)
    """
    if sys.modules.get(TELEMETRY_PACKAGE) is not None:
        log.warning("%s was imported before the model server could block it; OpenVINO's "
                    "telemetry follows your opt_in_out choice", TELEMETRY_PACKAGE)
    else:
        sys.modules[TELEMETRY_PACKAGE] = None  # type: ignore[assignment]
    try:
        import openvino
    except ImportError as error:
        raise RuntimeUnavailable(
            f"--runtime {OPENVINO} needs the openvino package ({error}); install it with "
            "pip install -e '.[openvino]'"
        ) from None
    return openvino


def cpu_capabilities(core: Any) -> list[str]:
    """What OpenVINO says this CPU can compute in, e.g. ``['FP32', 'INT8', 'BIN', ...]``."""
    return list(core.get_property(DEVICE, "OPTIMIZATION_CAPABILITIES"))


def check_precision(core: Any, precision: str) -> None:
    """Raise ``RuntimeUnavailable`` unless this CPU can run ``precision`` natively."""
    check_choice(OPENVINO, precision)
    capabilities = cpu_capabilities(core)
    if precision == BF16 and BF16_CAPABILITY not in capabilities:
        name = core.get_property(DEVICE, "FULL_DEVICE_NAME")
        raise RuntimeUnavailable(
            f"--precision {BF16} needs a CPU with bf16 arithmetic (AVX512_BF16 or AMX); OpenVINO "
            f"says this one ({name}) offers {', '.join(capabilities)}. Use --precision {F32} here."
        )


def package_versions() -> dict[str, str]:
    """The installed versions of the packages that key the cache, read without importing them."""
    versions = {}
    for package in KEYED_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "absent"
    return versions


def weights_fingerprint(weights_path: Path | None, seed: int) -> str:
    """What identifies the weights: the SHA-256 of their file, or the seed of untrained ones."""
    if weights_path is None:
        return f"untrained-seed-{seed}"
    digest = hashlib.sha256()
    with open(weights_path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return f"sha256-{digest.hexdigest()}"


def cache_key(fingerprint: str, versions: dict[str, str]) -> str:
    """A short name for one cache entry: the same weights and versions give the same name."""
    identity = json.dumps({"model": MODEL_NAME, "weights": fingerprint, **versions}, sort_keys=True)
    return hashlib.sha256(identity.encode()).hexdigest()[:24]


class IRCache:
    """Converted models on disk: one folder per key, holding the IR and a note of what it is."""

    def __init__(self, directory: Path | str | None = None):
        self.directory = Path(directory).expanduser() if directory else default_cache_dir()

    def fingerprint(self, weights_path: Path | None, seed: int) -> str:
        """``weights_fingerprint``, remembered per file while its size and modification time stay.

        Hashing ImageNet's weights (98 MB) would take longer than the rest of a start from the
        cache.
        """
        if weights_path is None:
            return weights_fingerprint(None, seed)
        stat = weights_path.stat()
        stamp = [stat.st_size, stat.st_mtime_ns]
        name = str(weights_path.resolve())
        notes_path = self.directory / FINGERPRINTS
        try:
            notes = json.loads(notes_path.read_text())
        except (OSError, ValueError):
            notes = {}
        note = notes.get(name)
        if isinstance(note, dict) and note.get("stamp") == stamp:
            return str(note["fingerprint"])
        fingerprint = weights_fingerprint(weights_path, seed)
        notes[name] = {"stamp": stamp, "fingerprint": fingerprint}
        self.directory.mkdir(parents=True, exist_ok=True)
        staging = notes_path.with_name(f".{FINGERPRINTS}.{os.getpid()}")
        staging.write_text(json.dumps(notes, indent=2))
        staging.replace(notes_path)
        return fingerprint

    def ir_path(self, key: str) -> Path:
        return self.directory / key / IR_XML

    def lookup(self, key: str) -> Path | None:
        """The IR's ``.xml`` for ``key`` if a complete entry is cached."""
        path = self.ir_path(key)
        return path if path.is_file() and path.with_suffix(".bin").is_file() else None

    def store(self, key: str, ov_model: Any, info: dict[str, Any]) -> Path:
        """Save ``ov_model`` under ``key``; written beside the cache and moved in whole.

        Two servers converting at once both succeed: the second keeps the first one's entry.
        """
        import openvino

        self.directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=self.directory))
        try:
            # f32 weights: the default (fp16) would change the numbers before any precision is set.
            openvino.save_model(ov_model, staging / IR_XML, compress_to_fp16=False)
            (staging / IR_INFO).write_text(json.dumps(info, indent=2))
            try:
                staging.rename(self.directory / key)
            except OSError:
                if self.lookup(key) is None:
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self.ir_path(key)


@dataclass(frozen=True)
class OpenVINOLoadTimings:
    """Seconds spent in each step of loading; ``convert`` is 0 when the IR came from the cache."""

    import_openvino: float
    convert: float
    read_ir: float
    compile: float
    first_inference: float

    @property
    def total(self) -> float:
        return self.import_openvino + self.convert + self.read_ir + self.compile + self.first_inference


def convert_keras_resnet50(weights_path: Path | None, seed: int) -> Any:
    """The Keras ResNet50 with these weights as an OpenVINO model (imports TensorFlow)."""
    import openvino

    from .tensorflow_model import ResNet50Classifier

    keras_classifier = ResNet50Classifier.load(str(weights_path) if weights_path else "random", seed=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*structure of `inputs`", category=UserWarning)
        return openvino.convert_model(keras_classifier.keras_model)


class OpenVINOClassifier(ResNet50Runtime):
    """ResNet50 compiled by OpenVINO for the CPU; thread-safe (one infer request per thread)."""

    runtime = OPENVINO
    #: How long each step of ``load`` took; set by ``load`` once the model has answered its first
    #: inference, which is one of the steps.
    load_timings: OpenVINOLoadTimings

    def __init__(self, compiled: Any, weights: str, precision: str, ir_path: Path, from_cache: bool):
        self.weights = weights
        self.precision = precision
        #: Where the IR this model was compiled from lives, and whether it was already there.
        self.ir_path = ir_path
        self.from_cache = from_cache
        self._compiled = compiled
        self._requests = threading.local()

    @classmethod
    def load(
        cls, weights: str = "auto", seed: int = DEFAULT_SEED, precision: str = F32,
        cache_dir: Path | str | None = None, threads: int = 0,
    ) -> OpenVINOClassifier:
        """Compile ResNet50 from the cached IR, converting it first if the cache has none.

        ``weights`` takes the sources the ``weights`` module documents. ``threads`` caps OpenVINO's
        threads (0: one per core). Raises ``RuntimeUnavailable`` for a precision this CPU lacks.
        """
        started = time.perf_counter()
        openvino = import_openvino()
        core = openvino.Core()
        check_precision(core, precision)
        imported = time.perf_counter()

        weights_path = resolve_weights(weights)
        if weights_path is None:
            log.warning(UNTRAINED_WARNING)
        versions = package_versions()
        cache = IRCache(cache_dir)
        fingerprint = cache.fingerprint(weights_path, seed)
        key = cache_key(fingerprint, versions)
        ir_path = cache.lookup(key)
        from_cache = ir_path is not None
        if ir_path is None:
            log.info("converting the Keras ResNet50 to OpenVINO (once; cached in %s)", cache.directory)
            ov_model = convert_keras_resnet50(weights_path, seed)
            ir_path = cache.store(key, ov_model, {
                "weights": weights_label(weights_path), "fingerprint": fingerprint, **versions,
            })
            del ov_model
        converted = time.perf_counter()

        ov_model = core.read_model(ir_path)
        read = time.perf_counter()
        compiled = core.compile_model(ov_model, DEVICE, _compile_config(precision, threads))
        _check_compiled_precision(openvino, compiled, precision)
        compiled_at = time.perf_counter()

        classifier = cls(compiled, weights_label(weights_path), precision, ir_path, from_cache)
        classifier.warm_up()
        warmed = time.perf_counter()
        classifier.load_timings = OpenVINOLoadTimings(
            import_openvino=imported - started, convert=converted - imported,
            read_ir=read - converted, compile=compiled_at - read, first_inference=warmed - compiled_at,
        )
        log.info("OpenVINO %s ready in %.2f s (%s; %s)", precision, classifier.load_timings.total,
                 "IR from the cache" if from_cache else "converted now", ", ".join(
                     f"{step} {seconds:.2f} s" for step, seconds in vars(classifier.load_timings).items()))
        return classifier

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities, shape ``(n, 1000)``, for a preprocessed float32 batch."""
        request = getattr(self._requests, "request", None)
        if request is None:
            request = self._requests.request = self._compiled.create_infer_request()
        probabilities: np.ndarray = request.infer(np.ascontiguousarray(batch, dtype=np.float32))[0]
        return probabilities


def _compile_config(precision: str, threads: int) -> dict[str, Any]:
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"}
    if threads > 0:
        config["INFERENCE_NUM_THREADS"] = threads
    return config


def _check_compiled_precision(openvino: Any, compiled: Any, precision: str) -> None:
    """OpenVINO may lower precision on its own; make sure it computes in the one asked for."""
    wanted = {F32: openvino.Type.f32, BF16: openvino.Type.bf16}[precision]
    actual = compiled.get_property("INFERENCE_PRECISION_HINT")
    if actual != wanted:
        raise RuntimeUnavailable(f"OpenVINO compiled the model for {actual}, not {precision} as asked")
