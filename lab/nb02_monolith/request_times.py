"""Notebook 02: the same images through the monolith, timed from the caller's side, two ways.

The monolith web app (the model built inside every request) and a cold Python process per request
(``lab.monolith.cold_start``). Each function cycles through the images it is given, so both see the
same bytes, and fails loudly if a request does not succeed: a timing of an error page would be a
wrong number, not a slow one. Last, which of them lands nearest the original's published range.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.http import ApiAnswer, predict_json, read_answer
from harness.stats import MeasurementFailed
from lab.monolith.cold_start import STAGE_TITLES, ColdStart, run_cold_start
from lab.show.progress import measuring

#: Labels for tables and plots, one per way of running the monolith.
MONOLITH = "monolith (model built per request)"
COLD_PROCESS = "cold process per request"


@dataclass(frozen=True)
class WebRequest:
    filename: str
    seconds: float
    answer: ApiAnswer


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


def through_cold_processes(
    images: Sequence[Path], runs: int, weights: str, timeout: float, progress: bool | None = None
) -> list[ColdStart]:
    """Run ``runs`` cold processes, each classifying one image (``lab.monolith.cold_start``).

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


def distance_to_range(value: float, low: float, high: float) -> float:
    """How far ``value`` is outside ``[low, high]``, as a ratio on a log scale (0 inside)."""
    if low <= value <= high:
        return 0.0
    return abs(math.log(value / (low if value < low else high)))


def closest_to_range(low: float, high: float, candidates: Mapping[str, float]) -> str:
    """The name of the candidate whose value lies in, or nearest to, ``[low, high]``."""
    if not candidates:
        raise ValueError("no candidates to compare with the range")
    return min(candidates, key=lambda name: distance_to_range(candidates[name], low, high))
