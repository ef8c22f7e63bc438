"""Posting an image over HTTP as a browser or an API client does: the one poster of the lab, the
benchmark and the tests.

``post_image`` sends an image as the upload form does (a multipart part named ``file``) or as raw
bytes, timed from sending to the last byte. ``upload`` posts to ``/uploader`` and returns the page
(``main_element`` is the part a notebook shows); ``predict_json`` uses ``/api/predict``, which both
web apps answer with the same JSON, and ``read_answer`` reads it: the predictions, and for the
monolith the seconds it spent loading.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import requests

from flask_server.uploads import FILE_FIELD
from model_server.protocol import Prediction

#: Seconds a health check may take.
HEALTH_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class WebResponse:
    """One HTTP answer: the status, the body and the seconds from sending to the last byte."""

    status: int
    seconds: float
    body: str
    json: Any = None

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(frozen=True)
class ApiAnswer:
    """What ``/api/predict`` answered: predictions, or the error's code and message."""

    predictions: list[Prediction]
    weights: str | None = None
    #: Seconds per loading stage, given only by the monolith (it loads the model per request).
    load_timings: dict[str, float] | None = None
    error_code: str | None = None
    error_message: str | None = None


def upload(base_url: str, image: bytes, filename: str, timeout: float) -> WebResponse:
    """POST the image to ``/uploader`` as the upload form does; the body is the rendered page."""
    return post_image(f"{base_url}/uploader", image, timeout, filename=filename)


def predict_json(base_url: str, image: bytes, filename: str, timeout: float) -> WebResponse:
    """POST the image to ``/api/predict``; ``.json`` holds the predictions or the error."""
    return post_image(f"{base_url}/api/predict", image, timeout, filename=filename)


def read_answer(response: WebResponse) -> ApiAnswer:
    """The predictions or the error in an ``/api/predict`` answer of either web app."""
    body = response.json if isinstance(response.json, dict) else {}
    error = body.get("error") or {}
    if not response.ok:
        return ApiAnswer([], error_code=error.get("code", f"http_{response.status}"),
                         error_message=error.get("message", response.body[:200]))
    return ApiAnswer(
        predictions=[Prediction(**p) for p in body["predictions"]], weights=body["weights"],
        load_timings=body.get("load_timings"),
    )


def post_image(url: str, image: bytes, timeout: float, *, filename: str = "upload",
               content_type: str | None = None, raw: bool = False,
               session: requests.Session | None = None) -> WebResponse:
    """POST ``image`` to ``url``: as the form's ``file`` part, or with ``raw`` as the body itself.

    A ``session`` keeps its connection open between calls, as a client that sends many requests
    does (the benchmark's clients); without one, each call connects afresh, as a browser's first
    upload does.
    """
    poster = session if session is not None else requests
    started = time.perf_counter()
    if raw:
        headers = {"Content-Type": content_type or "application/octet-stream"}
        response = poster.post(url, data=image, headers=headers, timeout=timeout)
    else:
        part = (filename, image) if content_type is None else (filename, image, content_type)
        response = poster.post(url, files={FILE_FIELD: part}, timeout=timeout)
    seconds = time.perf_counter() - started
    is_json = response.headers.get("Content-Type", "").startswith("application/json")
    return WebResponse(response.status_code, seconds, response.text,
                       response.json() if is_json else None)


def health(base_url: str, timeout: float = HEALTH_TIMEOUT_S) -> dict[str, Any]:
    """What ``GET /healthz`` says, including whether the model server answers."""
    response = requests.get(f"{base_url}/healthz", timeout=timeout)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def main_element(html: str) -> str:
    """The page's ``<main>`` element: what a notebook shows (the stylesheet link would not load)."""
    match = re.search(r"<main>.*?</main>", html, flags=re.S)
    return match.group(0) if match else html
