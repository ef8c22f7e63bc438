"""Which engine runs ResNet50: TensorFlow (the lab's default) or OpenVINO (an optional extra).

Both give a classifier with the same interface (``classifier.Classifier``), so the batcher, the
workers, the server and the protocol do not care which one answers; replies say which did.
Neither runtime is imported here: only the one chosen is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol import BF16, F32, OPENVINO, TENSORFLOW
from .classifier import Classifier, RuntimeUnavailable, check_choice


@dataclass(frozen=True)
class ModelSettings:
    """Which model to load, and how: what ``load_classifier`` reads of the model server's
    settings (``ServerSettings.model_settings``; their flags say what each field means)."""

    runtime: str
    precision: str
    weights: str
    seed: int
    intra_op_threads: int
    inter_op_threads: int
    openvino_cache: str


def load_classifier(settings: ModelSettings) -> Classifier:
    """The model of ``settings.runtime`` at ``settings.precision``, loaded and warmed up.

    Raises ``RuntimeUnavailable`` (e.g. bf16 on a CPU without it) or ``weights.WeightsUnavailable``.
    """
    check_choice(settings.runtime, settings.precision)
    if settings.runtime == TENSORFLOW:
        if settings.precision != F32:
            raise RuntimeUnavailable(
                f"--precision {BF16} is offered with --runtime {OPENVINO} only; TensorFlow here "
                f"runs in {F32}"
            )
        from .tensorflow_model import ResNet50Classifier

        return ResNet50Classifier.load(
            settings.weights, seed=settings.seed, intra_op_threads=settings.intra_op_threads,
            inter_op_threads=settings.inter_op_threads,
        )
    from .openvino_model import OpenVINOClassifier

    return OpenVINOClassifier.load(
        settings.weights, seed=settings.seed, precision=settings.precision,
        cache_dir=settings.openvino_cache or None, threads=settings.intra_op_threads,
    )
