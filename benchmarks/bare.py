"""The limit: the compiled model alone in one process, no decoding, no sockets.

Run as ``python -m benchmarks.bare`` so that TensorFlow lives in its own process; prints JSON.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import numpy as np

from model_server.images import decode_image
from model_server.model import ResNet50Classifier

from .workload import photo_jpegs

BATCH_SIZES = (1, 2, 4, 8, 16)


def _median_seconds(action, repeats: int) -> float:
    action()
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        action()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def measure(repeats: int = 15) -> dict:
    classifier = ResNet50Classifier.load("random")
    images = photo_jpegs()
    pixels = np.stack([decode_image(image) for image in images])
    decode_s = _median_seconds(lambda: decode_image(images[0]), repeats * 3)
    per_batch = {}
    for size in BATCH_SIZES:
        batch = classifier.preprocess(np.resize(pixels, (size, *pixels.shape[1:])))
        seconds = _median_seconds(lambda: classifier.infer(batch), max(5, repeats * 4 // size))
        per_batch[size] = {"ms_per_batch": round(seconds * 1000, 2),
                           "throughput": round(size / seconds, 2)}
    best = max(per_batch, key=lambda size: per_batch[size]["throughput"])
    return {
        "latency_ms": per_batch[1]["ms_per_batch"],
        "best_batch": best,
        "best_throughput": per_batch[best]["throughput"],
        "decode_ms": round(decode_s * 1000, 2),
        "batches": per_batch,
        "load_timings": vars(classifier.load_timings),
    }


if __name__ == "__main__":
    json.dump(measure(), sys.stdout)
