"""``python -m lab.monolith.cold_start IMAGE``: the monolith's whole job in a fresh interpreter, timed.

The original write-up's ``app.py`` paid for everything on every request: a Python process that
imports TensorFlow, builds ResNet50, loads its weights, runs the first (tracing) inference and only
then classifies the one image. This command does exactly that once and prints the stages as JSON
on its last line of output. ``run_cold_start`` runs it as a subprocess and adds what only the parent
can see: the interpreter starting before our first line runs, and exiting after our last.
"""

from __future__ import annotations

import time

#: Wall-clock time when this module started running: the parent subtracts its own start time.
MAIN_STARTED_AT = time.time()

import argparse  # noqa: E402 (imported after the clock starts, on purpose)
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

from model_server.protocol import Prediction  # noqa: E402 (no TensorFlow: protocol only)

#: The stages of one cold request, in the order they happen; their durations add up to the whole.
STAGES = (
    "interpreter_start",
    "import_libraries",
    "import_tensorflow",
    "build_model",
    "load_weights",
    "first_inference",
    "inference",
    "interpreter_exit",
)
STAGE_TITLES = {
    "interpreter_start": "start Python",
    "import_libraries": "import numpy, Pillow, …",
    "import_tensorflow": "import TensorFlow",
    "build_model": "build ResNet50",
    "load_weights": "load weights",
    "first_inference": "first inference (tracing)",
    "inference": "classify the image",
    "decode_image": "decode the image",
    "predict": "predict",
    "interpreter_exit": "exit Python",
}
#: Seconds one cold process may take before it is killed.
COLD_START_TIMEOUT_S = 180.0
STDERR_TAIL_LINES = 20


class ColdStartFailed(RuntimeError):
    """The cold process failed or timed out; the message ends with its error output."""


@dataclass(frozen=True)
class ColdStart:
    """One cold process: its wall time as the parent saw it, split into ``STAGES``."""

    wall_s: float
    stages: dict[str, float]
    weights: str
    predictions: list[Prediction]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.monolith.cold_start", description=__doc__.split("\n")[0])
    parser.add_argument("image", type=Path, help="the image file to classify")
    parser.add_argument("--weights", default="auto", help="auto, imagenet, random or an .h5 path")
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--handler", choices=("exercises", "solutions"),
                        help="run notebook 02's handle_upload from this package instead of the monolith's code")
    args = parser.parse_args(argv)
    image = args.image.read_bytes()
    if args.handler:
        return _run_handler(args.handler, image, args.weights, args.top)

    from model_server.models.pipeline import classify_image
    from model_server.models.tensorflow_model import ResNet50Classifier

    libraries_imported_at = time.time()
    classifier = ResNet50Classifier.load(args.weights)
    predictions, timings = classify_image(classifier, image, args.top)
    print(json.dumps({
        "main_started_at": MAIN_STARTED_AT,
        "libraries_imported_at": libraries_imported_at,
        "finished_at": time.time(),
        "load": asdict(classifier.load_timings),
        "inference_s": timings.total / 1000,
        "weights": classifier.weights,
        "predictions": [asdict(p) for p in predictions],
    }))
    return 0


def _run_handler(package: str, image: bytes, weights: str, top: int) -> int:
    """Notebook 02's ``handle_upload`` (the learner's or the reference) on the real parts, once."""
    import importlib

    from model_server.models.tensorflow_model import weights_file
    from model_server.models.weights import resolve_weights, weights_label

    from .parts import REAL_PARTS

    handler = importlib.import_module(f"{package}.nb02_monolith").handle_upload
    path = weights_file(weights)
    libraries_imported_at = time.time()
    predictions, stages = handler(image, str(path), REAL_PARTS, top)
    print(json.dumps({
        "main_started_at": MAIN_STARTED_AT,
        "libraries_imported_at": libraries_imported_at,
        "finished_at": time.time(),
        "load": {name: float(seconds) for name, seconds in stages.items()},
        "weights": weights_label(resolve_weights(weights)),
        "predictions": [asdict(p) for p in predictions],
    }))
    return 0


def run_handler_cold(
    image: Path | str, weights: str = "auto", package: str = "solutions",
    timeout: float = COLD_START_TIMEOUT_S,
) -> ColdStart:
    """Run notebook 02's ``handle_upload`` from ``package`` in a fresh interpreter, timed by stage.

    The stages are the handler's own, between Python starting and exiting.
    """
    argv = [sys.executable, "-m", "lab.monolith.cold_start", str(image), "--weights", weights,
            "--handler", package]
    wall_s, report, stages = _run_cold(argv, timeout)
    stages["interpreter_exit"] = max(0.0, wall_s - sum(stages.values()))
    return ColdStart(wall_s=wall_s, stages=stages, weights=report["weights"],
                     predictions=[Prediction(**p) for p in report["predictions"]])


def run_cold_start(
    image: Path | str, weights: str = "auto", timeout: float = COLD_START_TIMEOUT_S
) -> ColdStart:
    """Run ``python -m lab.monolith.cold_start IMAGE`` in a fresh interpreter and time every stage."""
    argv = [sys.executable, "-m", "lab.monolith.cold_start", str(image), "--weights", weights]
    wall_s, report, stages = _run_cold(argv, timeout)
    stages["inference"] = report["inference_s"]
    stages["interpreter_exit"] = max(0.0, wall_s - sum(stages.values()))
    return ColdStart(
        wall_s=wall_s,
        stages={name: stages[name] for name in STAGES},
        weights=report["weights"],
        predictions=[Prediction(**p) for p in report["predictions"]],
    )


def _run_cold(argv: list[str], timeout: float) -> tuple[float, dict, dict[str, float]]:
    """Run one cold process; its wall time, its JSON report, and the stages up to its last line."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    spawned_at = time.time()
    started = time.perf_counter()
    try:
        finished = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise ColdStartFailed(f"the cold process took more than {timeout:g} s and was killed") from None
    wall_s = time.perf_counter() - started
    if finished.returncode != 0:
        tail = "\n".join(finished.stderr.splitlines()[-STDERR_TAIL_LINES:])
        raise ColdStartFailed(f"the cold process exited with code {finished.returncode}:\n{tail}")
    report = json.loads(finished.stdout.strip().splitlines()[-1])
    stages = {
        "interpreter_start": report["main_started_at"] - spawned_at,
        "import_libraries": report["libraries_imported_at"] - report["main_started_at"],
        **report["load"],
    }
    return wall_s, report, stages


def stage_rows(stages: dict[str, float]) -> list[dict[str, object]]:
    """The stages as table rows: what each is, its seconds and its share of the whole."""
    total = sum(stages.values())
    return [
        {"stage": STAGE_TITLES.get(name, name), "seconds": round(seconds, 3),
         "share": f"{seconds / total:.0%}"}
        for name, seconds in stages.items()
    ]


if __name__ == "__main__":
    sys.exit(main())
