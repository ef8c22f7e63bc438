"""ResNet50's weights: where they come from, where they are kept, what replies call them.

Weights come from a *source*:

- ``auto`` (default): the ImageNet weights from the Keras cache, else downloaded into it; if neither
  works within seconds, the same architecture with untrained, seeded weights and a loud warning.
- ``imagenet``: the ImageNet weights or a clear error naming the file to place in the cache.
- ``random``: untrained weights from a fixed seed, the same in every process and every restart.
  The first load saves them beside Keras' ImageNet file (``untrained_weights_file``, ~100 MB) and
  every load reads that file, so loading untrained weights costs what loading ImageNet's costs.
- a path to an ``.h5`` weights file.

Untrained ResNet50 ranks the same few classes first for nearly every image (docs/running.md says
which): its labels mean nothing, but it does exactly the same computation, so its timings are real.

Both runtimes read their weights through this module; it imports Keras only to learn the
published file's address and checksum, when it needs them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import urllib.request
from pathlib import Path
from typing import Any

from ..protocol import IMAGENET, UNTRAINED

log = logging.getLogger(__name__)

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
    stem = path.name.removesuffix(".weights.h5")
    staging = path.with_name(f".{stem}.{os.getpid()}.{threading.get_ident()}.weights.h5")
    try:
        keras_model.save_weights(str(staging))
        staging.replace(path)
    finally:
        staging.unlink(missing_ok=True)
    log.info("saved the untrained seed-%d weights to %s", seed, path)
    return path


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


def warn_if_not_published(path: Path) -> None:
    """Log a warning if a file named like the ImageNet weights is not the published one."""
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
