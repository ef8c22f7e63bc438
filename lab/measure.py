"""The same images through each way of serving ResNet50, timed from the caller's side.

Four ways: the monolith web app (the model built inside every request), a cold Python process per
request (``lab.cold_start``), the model server called directly with ``ModelClient``, and the split
web app (HTTP to Flask, ZeroMQ to the model server). Each function cycles through the images it is
given, so every way sees the same bytes, and fails loudly if a request does not succeed: a timing
of an error page would be a wrong number, not a slow one.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.http import ApiAnswer, predict_json, read_answer
from harness.stats import MeasurementFailed
from model_server.client import ModelClient
from model_server.protocol import PredictReply

from .cold_start import STAGE_TITLES, ColdStart, run_cold_start
from .progress import measuring

#: Labels for tables and plots, one per way of serving the model.
MONOLITH = "monolith (model built per request)"
COLD_PROCESS = "cold process per request"
MODEL_SERVER = "model server (ZeroMQ, direct)"
WEB_APP = "Flask app + model server"


@dataclass(frozen=True)
class WebRequest:
    filename: str
    seconds: float
    answer: ApiAnswer


@dataclass(frozen=True)
class ServerRequest:
    filename: str
    seconds: float
    reply: PredictReply


def _cycle(images: Sequence[Path], count: int) -> Iterator[Path]:
    if not images:
        raise ValueError("no images to send")
    return itertools.islice(itertools.cycle(images), count)


def through_web_api(
    base_url: str, images: Sequence[Path], requests: int, timeout: float, warmup: int = 0,
    progress: bool | None = None,
) -> list[WebRequest]:
    """Upload ``requests`` images to ``/api/predict`` of a web app (the monolith or the split app).

    ``progress``: show a bar (``None``: in a notebook only).
    """
    for path in _cycle(images, warmup):
        _predict_or_fail(base_url, path, timeout)
    timed = []
    for path in measuring(_cycle(images, requests), f"{requests} requests to {base_url}",
                          requests, progress):
        seconds, answer = _predict_or_fail(base_url, path, timeout)
        timed.append(WebRequest(path.name, seconds, answer))
    return timed


def _predict_or_fail(base_url: str, path: Path, timeout: float) -> tuple[float, ApiAnswer]:
    response = predict_json(base_url, path.read_bytes(), path.name, timeout)
    answer = read_answer(response)
    if not response.ok:
        raise MeasurementFailed(
            f"{base_url}/api/predict answered {response.status} for {path.name}: "
            f"{answer.error_code}: {answer.error_message}"
        )
    return response.seconds, answer


def through_model_server(
    address: str, images: Sequence[Path], requests: int, timeout: float, warmup: int = 0,
    progress: bool | None = None,
) -> list[ServerRequest]:
    """Send ``requests`` images to the model server with ``ModelClient``, one at a time.

    ``progress``: show a bar (``None``: in a notebook only).
    """
    timed = []
    with ModelClient(address, timeout=timeout) as client:
        for path in _cycle(images, warmup):
            client.predict(path.read_bytes())
        for path in measuring(_cycle(images, requests), f"{requests} requests to the model server",
                              requests, progress):
            image = path.read_bytes()
            started = time.perf_counter()
            reply = client.predict(image)
            timed.append(ServerRequest(path.name, time.perf_counter() - started, reply))
    return timed


def through_cold_processes(
    images: Sequence[Path], runs: int, weights: str, timeout: float, progress: bool | None = None
) -> list[ColdStart]:
    """Run ``runs`` cold processes, each classifying one image (``lab.cold_start``).

    ``progress``: show a bar (``None``: in a notebook only).
    """
    return [run_cold_start(path, weights, timeout)
            for path in measuring(_cycle(images, runs), f"{runs} cold processes", runs, progress)]


def web_request_rows(timed: Sequence[WebRequest]) -> list[dict[str, object]]:
    """One table row per upload; the monolith's rows add the seconds it spent loading the model."""
    rows = []
    for number, request in enumerate(timed, start=1):
        row: dict[str, object] = {"request": number, "image": request.filename,
                                  "seconds": round(request.seconds, 3)}
        for stage, seconds in (request.answer.load_timings or {}).items():
            row[STAGE_TITLES[stage]] = seconds
        rows.append(row)
    return rows


def cold_process_rows(timed: Sequence[ColdStart]) -> list[dict[str, object]]:
    """One table row per cold process: its wall time and its largest stages."""
    shown = ("interpreter_start", "import_tensorflow", "build_model", "first_inference", "inference",
             "interpreter_exit")
    return [
        {"process": number, "seconds": round(cold.wall_s, 3),
         **{STAGE_TITLES[stage]: round(cold.stages[stage], 3) for stage in shown}}
        for number, cold in enumerate(timed, start=1)
    ]


#: What a request's round trip is made of, from the server's timings and the caller's clock.
OUTSIDE_THE_SERVER = "outside the server (ZeroMQ, JSON, base64)"


def server_stage_medians(timed: Sequence[ServerRequest]) -> dict[str, float]:
    """Median milliseconds of each stage inside the server, and of the rest of the round trip."""
    if not timed:
        raise ValueError("no requests to summarise")
    stages = {
        "decode": [r.reply.timings.decode for r in timed],
        "preprocess": [r.reply.timings.preprocess for r in timed],
        "inference": [r.reply.timings.inference for r in timed],
        OUTSIDE_THE_SERVER: [r.seconds * 1000 - r.reply.timings.total for r in timed],
    }
    return {name: statistics.median(values) for name, values in stages.items()}
