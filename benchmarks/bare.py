"""The limit: the compiled model alone in one process, no decoding, no sockets.

Run as ``python -m benchmarks.bare`` so that TensorFlow lives in its own process; prints JSON.
``lab.bare_model.measure_in_subprocess()`` does that from Python (the benchmark and notebook 08
call it).
``--runtime openvino`` (and ``--precision``) measures the OpenVINO runtime's limit instead.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Sequence

import numpy as np

from lab.bare_model import BATCH_SIZES, REPEATS
from model_server.images import decode_image
from model_server.models.runtimes import load_classifier
from model_server.protocol import F32, PRECISIONS, RUNTIMES, TENSORFLOW
from model_server.serving.settings import ServerSettings

from .workload import photo_jpegs

def _median_seconds(action, repeats: int) -> float:
    action()
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        action()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def measure(
    repeats: int = REPEATS, batch_sizes: Sequence[int] = BATCH_SIZES, runtime: str = TENSORFLOW,
    precision: str = F32,
) -> dict:
    """Median milliseconds per batch and images per second for each size; needs size 1."""
    if 1 not in batch_sizes:
        raise ValueError("batch_sizes must include 1: the latency of one image is the limit")
    classifier = load_classifier(ServerSettings(weights="random", runtime=runtime, precision=precision))
    images = photo_jpegs()
    pixels = np.stack([decode_image(image) for image in images])
    decode_s = _median_seconds(lambda: decode_image(images[0]), repeats * 3)
    per_batch = {}
    for size in batch_sizes:
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
        "runtime": classifier.runtime,
        "precision": classifier.precision,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bare", description=__doc__)
    parser.add_argument("--repeats", type=int, default=REPEATS,
                        help="timed runs of a batch of one (default: %(default)s)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=list(BATCH_SIZES),
                        help="batch sizes to time; must include 1 (default: %(default)s)")
    parser.add_argument("--runtime", choices=RUNTIMES, default=TENSORFLOW)
    parser.add_argument("--precision", choices=PRECISIONS, default=F32)
    args = parser.parse_args(argv)
    if 1 not in args.batch_sizes:
        parser.error("--batch-sizes must include 1")
    json.dump(measure(args.repeats, args.batch_sizes, args.runtime, args.precision), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
