"""Talking to the Flask apps over HTTP as a browser does, and reading what their pages show.

``upload`` posts an image to ``/uploader`` exactly as the upload form does and returns the page
with its status and round-trip time; ``predict_json`` uses ``/api/predict``. The monolith has only
the page, so ``read_result_page`` reads the predictions and the model-loading timings back out of
the HTML (by the CSS classes the templates give them).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
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


def upload(base_url: str, image: bytes, filename: str, timeout: float) -> WebResponse:
    """POST the image to ``/uploader`` as the upload form does; the body is the rendered page."""
    return _post(f"{base_url}/uploader", image, filename, timeout)


def predict_json(base_url: str, image: bytes, filename: str, timeout: float) -> WebResponse:
    """POST the image to ``/api/predict``; ``.json`` holds the predictions or the error."""
    return _post(f"{base_url}/api/predict", image, filename, timeout)


def _post(url: str, image: bytes, filename: str, timeout: float) -> WebResponse:
    started = time.perf_counter()
    response = requests.post(url, files={FILE_FIELD: (filename, image)}, timeout=timeout)
    seconds = time.perf_counter() - started
    is_json = response.headers.get("Content-Type", "").startswith("application/json")
    return WebResponse(response.status_code, seconds, response.text,
                       response.json() if is_json else None)


def health(base_url: str, timeout: float = HEALTH_TIMEOUT_S) -> dict[str, Any]:
    """What ``GET /healthz`` says, including whether the model server answers."""
    response = requests.get(f"{base_url}/healthz", timeout=timeout)
    response.raise_for_status()
    return response.json()


@dataclass
class ResultPage:
    """What a rendered page shows: predictions and timings, or an error."""

    predictions: list[Prediction] = field(default_factory=list)
    weights: str | None = None
    #: The runtime and precision that answered, e.g. "openvino f32" (None from older servers).
    runtime: str | None = None
    #: Seconds per loading stage, shown only by the monolith (it loads the model per request).
    load_timings: dict[str, float] | None = None
    error_code: str | None = None
    error_message: str | None = None
    main_html: str = ""


_LOAD_TIMINGS = re.compile(
    r"importing TensorFlow ([\d.]+) s,\s*building ResNet50 ([\d.]+) s,\s*"
    r"loading weights ([\d.]+) s,\s*first inference ([\d.]+) s"
)
_WEIGHTS = re.compile(r"weights: ([^;)]+)")


class _PageParser(HTMLParser):
    """Collects the text of the elements the templates mark with a CSS class."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: dict[str, list[str]] = {}
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = dict(attrs).get("class") or ""
        self._open.append((tag, classes))
        for name in classes.split():
            self.texts.setdefault(name, []).append("")

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            open_tag, _ = self._open.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, classes in self._open:
            for name in (classes or "").split():
                self.texts[name][-1] += data


def read_result_page(html: str) -> ResultPage:
    """The predictions, timings or error that a page of either web app shows."""
    parser = _PageParser()
    parser.feed(html)
    texts = {name: [" ".join(t.split()) for t in values] for name, values in parser.texts.items()}
    page = ResultPage(main_html=_main_element(html))
    for label, wnid, probability in zip(
        texts.get("label", []), texts.get("wnid", []), texts.get("probability", [])
    ):
        page.predictions.append(Prediction(label, wnid, float(probability.rstrip("%")) / 100))
    timing = " ".join(texts.get("timing", []))
    if match := _WEIGHTS.search(timing):
        page.weights = match.group(1).strip()
    if texts.get("runtime"):
        page.runtime = texts["runtime"][0]
    if match := _LOAD_TIMINGS.search(timing):
        page.load_timings = dict(zip(
            ("import_tensorflow", "build_model", "load_weights", "first_inference"),
            (float(value) for value in match.groups()),
        ))
    if texts.get("error"):
        page.error_message = (texts.get("message") or [""])[0]
        code = re.search(r"Error code: (\S+)", (texts.get("code") or [""])[0])
        page.error_code = code.group(1) if code else None
    return page


def _main_element(html: str) -> str:
    """The page's ``<main>`` element: what the notebook shows (the stylesheet link would not load)."""
    match = re.search(r"<main>.*?</main>", html, flags=re.S)
    return match.group(0) if match else html
