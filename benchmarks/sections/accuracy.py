"""OpenVINO against TensorFlow on the same images: how far apart the probabilities are, and
whether the top-5 classes agree. The test suite runs ``compare`` on generated images with
untrained weights; with the ImageNet weights and your own photos::

    python -m benchmarks.sections.accuracy --weights imagenet --precision f32 photos/*.jpg
    python -m benchmarks.sections.accuracy --weights imagenet --precision bf16 photos/*.jpg   # AVX512_BF16/AMX

It prints one row per photo and a JSON summary; it exits 1 if the answers disagree by more than
the precision's ``Bound`` (``--tolerance`` overrides its probability bound).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from model_server.images import decode_image
from model_server.models.classifier import Classifier
from model_server.protocol import BF16, F32, PRECISIONS

TOP = 5


@dataclass(frozen=True)
class Bound:
    """How far a runtime may answer from TensorFlow and still give the user the same answer."""

    #: The largest difference allowed in any class's probability.
    max_abs_diff: float
    #: How many of TensorFlow's top-5 classes must also be in the candidate's top 5.
    min_top5_overlap: int
    #: The top-1 class must always be the same.


#: f32 must match TensorFlow to float round-off (measured: under 6e-6). bf16 keeps 8 bits of
#: mantissa: over 51 images, measured on a Xeon with AMX and on an AMD EPYC with AVX512_BF16,
#: the largest difference was 0.016 (a CMYK JPEG; all others under 0.011), every top-1 the same,
#: and 5 of 51 top-5 sets with one class swapped: the bound is about twice the largest measured.
BOUNDS = {
    F32: Bound(max_abs_diff=1e-5, min_top5_overlap=TOP),
    BF16: Bound(max_abs_diff=0.03, min_top5_overlap=TOP - 1),
}


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

    @property
    def top5_overlap(self) -> int:
        """How many of the reference's top-5 classes are in the candidate's top 5."""
        return len(set(self.reference_top5) & set(self.candidate_top5))

    def disagreements(self, bound: Bound) -> list[str]:
        """What about this image is outside ``bound``, in words; empty when it is within."""
        found = []
        if self.max_abs_diff > bound.max_abs_diff:
            found.append(f"max |Δp| {self.max_abs_diff:.2e} > {bound.max_abs_diff:.0e}")
        if not self.same_top1:
            found.append(f"top-1 class {self.candidate_top5[0]}, not {self.reference_top5[0]}")
        if self.top5_overlap < bound.min_top5_overlap:
            found.append(f"{self.top5_overlap} of the top-5 classes shared, not {bound.min_top5_overlap}")
        return found


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

    def disagreements(self, bound: Bound) -> list[str]:
        """One line per image outside ``bound``: empty when the two runtimes agree."""
        return [f"{image.name}: {'; '.join(found)}" for image in self.images
                if (found := image.disagreements(bound))]

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
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sections.accuracy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", nargs="+", type=Path, help="image files to classify")
    parser.add_argument("--weights", default="imagenet", help="as the model server's --weights")
    parser.add_argument("--precision", choices=PRECISIONS, default=F32)
    parser.add_argument("--tolerance", type=float, default=None,
                        help="largest allowed difference of a probability (default: f32 1e-5, bf16 0.03)")
    args = parser.parse_args(argv)
    from model_server.models.openvino_model import OpenVINOClassifier
    from model_server.models.tensorflow_model import ResNet50Classifier

    tensorflow = ResNet50Classifier.load(args.weights)
    openvino = OpenVINOClassifier.load(args.weights, precision=args.precision)
    agreement = compare(tensorflow, openvino, {str(path): path.read_bytes() for path in args.photos})
    for image in agreement.images:
        print(f"{image.name}: max |Δp| {image.max_abs_diff:.2e}, top-1 "
              f"{'same' if image.same_top1 else 'DIFFERENT'}, top-5 "
              f"{'same' if image.same_top5 else 'different'}")
    bound = BOUNDS[args.precision]
    if args.tolerance is not None:
        bound = replace(bound, max_abs_diff=args.tolerance)
    disagreements = agreement.disagreements(bound)
    for line in disagreements:
        print(f"OUTSIDE THE BOUND {line}")
    summary = {**agreement.summary(), "precision": args.precision, "tolerance": bound.max_abs_diff,
               "min_top5_overlap": bound.min_top5_overlap, "weights": openvino.weights}
    print(json.dumps(summary))
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
