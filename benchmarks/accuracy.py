"""OpenVINO against TensorFlow on the same images: how far apart the probabilities are, and
whether the top-5 classes agree. The test suite runs ``compare`` on generated images with
untrained weights; with the ImageNet weights and your own photos::

    python -m benchmarks.accuracy --weights imagenet --precision f32 photos/*.jpg
    python -m benchmarks.accuracy --weights imagenet --precision bf16 photos/*.jpg   # AVX512_BF16/AMX

It prints one row per photo and a JSON summary; it exits 1 if the largest difference exceeds
``--tolerance`` or a top-1 class differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from model_server.images import decode_image
from model_server.pipeline import Classifier
from model_server.protocol import F32, PRECISIONS

TOP = 5
#: The default tolerance of each precision on a probability (f32: the test's; bf16: see README).
TOLERANCE = {"f32": 1e-5, "bf16": 1e-2}


@dataclass(frozen=True)
class ImageAgreement:
    name: str
    #: The largest difference between the two runtimes' probabilities of any class.
    max_abs_diff: float
    reference_top5: list[int]
    candidate_top5: list[int]

    @property
    def same_top1(self) -> bool:
        return self.reference_top5[0] == self.candidate_top5[0]

    @property
    def same_top5(self) -> bool:
        """The same five classes in the same order."""
        return self.reference_top5 == self.candidate_top5


@dataclass(frozen=True)
class Agreement:
    images: list[ImageAgreement]

    @property
    def max_abs_diff(self) -> float:
        return max(image.max_abs_diff for image in self.images)

    @property
    def top1_agreement(self) -> float:
        return sum(image.same_top1 for image in self.images) / len(self.images)

    @property
    def top5_agreement(self) -> float:
        return sum(image.same_top5 for image in self.images) / len(self.images)

    def summary(self) -> dict:
        return {"images": len(self.images), "max_abs_diff": self.max_abs_diff,
                "top1_agreement": self.top1_agreement, "top5_agreement": self.top5_agreement}


def top_classes(probabilities: np.ndarray, top: int = TOP) -> list[int]:
    return [int(i) for i in np.argsort(probabilities)[::-1][:top]]


def compare(reference: Classifier, candidate: Classifier, images: Mapping[str, bytes]) -> Agreement:
    """Classify every image (name → file bytes) with both and compare, image by image."""
    pixels = np.stack([decode_image(image) for image in images.values()])
    theirs = reference.infer(reference.preprocess(pixels))
    ours = candidate.infer(candidate.preprocess(pixels))
    return Agreement([
        ImageAgreement(name, float(np.abs(mine - expected).max()), top_classes(expected), top_classes(mine))
        for name, expected, mine in zip(images, theirs, ours)
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.accuracy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", nargs="+", type=Path, help="image files to classify")
    parser.add_argument("--weights", default="imagenet", help="as the model server's --weights")
    parser.add_argument("--precision", choices=PRECISIONS, default=F32)
    parser.add_argument("--tolerance", type=float, default=None,
                        help="largest allowed difference of a probability (default: by precision)")
    args = parser.parse_args(argv)
    from model_server.model import ResNet50Classifier
    from model_server.openvino_model import OpenVINOClassifier

    tensorflow = ResNet50Classifier.load(args.weights)
    openvino = OpenVINOClassifier.load(args.weights, precision=args.precision)
    agreement = compare(tensorflow, openvino, {str(path): path.read_bytes() for path in args.photos})
    for image in agreement.images:
        print(f"{image.name}: max |Δp| {image.max_abs_diff:.2e}, top-1 "
              f"{'same' if image.same_top1 else 'DIFFERENT'}, top-5 "
              f"{'same' if image.same_top5 else 'different'}")
    tolerance = TOLERANCE[args.precision] if args.tolerance is None else args.tolerance
    summary = {**agreement.summary(), "precision": args.precision, "tolerance": tolerance,
               "weights": openvino.weights}
    print(json.dumps(summary))
    return 0 if agreement.max_abs_diff <= tolerance and agreement.top1_agreement == 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
