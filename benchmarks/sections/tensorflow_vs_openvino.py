"""TensorFlow and OpenVINO f32 in one process, timed alternately, so that both see the same load.

On a shared machine two runs minutes apart can differ by 2× or more; calls interleaved one by
one share whatever else the machine is doing, and the ratio of their medians is what is left to
compare. Prints JSON: median milliseconds per batch of each runtime and TensorFlow ÷ OpenVINO.

    python -m benchmarks.sections.tensorflow_vs_openvino --rounds 15
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence

import numpy as np

from benchmarks.rounds.turns import in_turn
from harness.sample_images import photo_jpegs
from model_server.images import decode_image
from model_server.models.classifier import Classifier
from model_server.models.openvino_model import OpenVINOClassifier
from model_server.models.tensorflow_model import ResNet50Classifier

BATCH_SIZES = (1, 8)
ROUNDS = 15


def measure(rounds: int = ROUNDS, batch_sizes: Sequence[int] = BATCH_SIZES) -> dict:
    classifiers: dict[str, Classifier] = {"tensorflow": ResNet50Classifier.load("random"),
                                          "openvino": OpenVINOClassifier.load("random")}
    pixels = np.stack([decode_image(image) for image in photo_jpegs()])
    results: dict[str, dict] = {}
    for size in batch_sizes:
        samples: dict[str, list[float]] = {name: [] for name in classifiers}
        batch = next(iter(classifiers.values())).preprocess(np.resize(pixels, (size, *pixels.shape[1:])))
        for classifier in classifiers.values():
            classifier.infer(batch)
        for index in range(rounds):
            for name, classifier in in_turn(list(classifiers.items()), index):
                began = time.perf_counter()
                classifier.infer(batch)
                samples[name].append(time.perf_counter() - began)
        medians = {name: round(statistics.median(values) * 1000, 1) for name, values in samples.items()}
        results[str(size)] = {"ms_per_batch": medians,
                              "tensorflow_over_openvino": round(medians["tensorflow"] / medians["openvino"], 2)}
    return {"rounds": rounds, "batches": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sections.tensorflow_vs_openvino", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=list(BATCH_SIZES))
    args = parser.parse_args(argv)
    json.dump(measure(args.rounds, args.batch_sizes), sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
