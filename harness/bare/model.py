"""The limit: the compiled model alone in one process, no decoding, no sockets.

Run as ``python -m harness.bare`` so that TensorFlow lives in its own process; prints JSON.
``harness.bare.measure_in_subprocess()`` does that from Python (the benchmark and notebook 08
call it).
``--runtime openvino`` (and ``--precision``) measures the OpenVINO runtime's limit instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from model_server.images import decode_image
from model_server.models.runtimes import load_classifier
from model_server.protocol import F32, PRECISIONS, RUNTIMES, TENSORFLOW
from model_server.serving.settings import ServerSettings

from ..sample_images import photo_jpegs
from ..stats import median_seconds
from . import BATCH_SIZES, REPEATS


def measure(
    repeats: int = REPEATS, batch_sizes: Sequence[int] = BATCH_SIZES, runtime: str = TENSORFLOW,
    precision: str = F32,
) -> dict[str, Any]:
    """Median milliseconds per batch and images per second for each size; needs size 1."""
    if 1 not in batch_sizes:
        raise ValueError("batch_sizes must include 1: the latency of one image is the limit")
    model = _BareModel(runtime, precision)
    return {**model.limits(batch_sizes, repeats), "load_timings": vars(model.classifier.load_timings),
            "runtime": model.classifier.runtime, "precision": model.classifier.precision}


class _BareModel:
    """The compiled model and the workload's decoded images, loaded once."""

    def __init__(self, runtime: str, precision: str):
        self.classifier = load_classifier(
            ServerSettings(weights="random", runtime=runtime, precision=precision).model_settings)
        self.images = photo_jpegs()
        self.pixels = np.stack([decode_image(image) for image in self.images])

    def limits(self, batch_sizes: Sequence[int], repeats: int, min_repeats: int = 5,
               warm_up: bool = True) -> dict[str, Any]:
        """Per batch size, the median of timed passes; the best of them; one image's decode.

        Batch 1 gets ``repeats`` passes, larger batches proportionally fewer (at least
        ``min_repeats``); ``warm_up`` runs each once untimed first.
        """
        decode_s = median_seconds(lambda: decode_image(self.images[0]), repeats * 3, warm_up)
        per_batch = {}
        for size in batch_sizes:
            batch = self.classifier.preprocess(np.resize(self.pixels, (size, *self.pixels.shape[1:])))
            seconds = median_seconds(partial(self.classifier.infer, batch),
                                      max(min_repeats, repeats * 4 // size), warm_up)
            per_batch[size] = {"ms_per_batch": round(seconds * 1000, 2),
                               "throughput": round(size / seconds, 2)}
        best = max(per_batch, key=lambda size: per_batch[size]["throughput"])
        return {
            **({"latency_ms": per_batch[1]["ms_per_batch"]} if 1 in per_batch else {}),
            "best_batch": best,
            "best_throughput": per_batch[best]["throughput"],
            "decode_ms": round(decode_s * 1000, 2),
            "batches": per_batch,
        }


def serve(runtime: str, precision: str) -> int:
    """``--serve``: load the model once, say ``ready``, then answer each line read from stdin.

    A line is JSON, ``{"batch_sizes": [1], "repeats": 7, "min_repeats": 2}``; the answer is one
    line of JSON, as ``measure`` gives (without the load timings). The interleaved benchmark
    measures the bare model in every round this way, without loading it again, and without the
    untimed first passes (the model is warm).
    """
    model = _BareModel(runtime, precision)
    model.limits(BATCH_SIZES, 1, min_repeats=1)  # the first passes at each batch size are slow
    print(json.dumps({"ready": True, "runtime": model.classifier.runtime,
                      "precision": model.classifier.precision}), flush=True)
    for line in sys.stdin:
        asked = json.loads(line)
        print(json.dumps(model.limits(asked["batch_sizes"], asked["repeats"],
                                      asked.get("min_repeats", 2), warm_up=False)), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bare", description=__doc__)
    parser.add_argument("--repeats", type=int, default=REPEATS,
                        help="timed runs of a batch of one (default: %(default)s)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=list(BATCH_SIZES),
                        help="batch sizes to time; must include 1 (default: %(default)s)")
    parser.add_argument("--runtime", choices=RUNTIMES, default=TENSORFLOW)
    parser.add_argument("--precision", choices=PRECISIONS, default=F32)
    parser.add_argument("--serve", action="store_true",
                        help="keep the model loaded and measure what each line of stdin asks (JSON)")
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.runtime, args.precision)
    if 1 not in args.batch_sizes:
        parser.error("--batch-sizes must include 1")
    json.dump(measure(args.repeats, args.batch_sizes, args.runtime, args.precision), sys.stdout)
    return 0

