"""The pages and the JSON API of both web apps, written once: ``/``, ``/uploader``, ``/api/predict``.

The split app (``app.py``) and the monolith (``monolith.py``) differ only in how they get the labels
of an uploaded image: the split app asks the model server, the monolith builds ResNet50 for the
request. Each passes that in as a ``Predict`` to ``register_pages``; the form, the result page and
the JSON are spelled here, so a client (``harness.http``, the benchmarks) reads either app
the same way. A ``Predict`` raises when it fails; ``errors.py`` turns what it raises into a status.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request

from model_server.protocol import UNTRAINED, PredictReply

from .uploads import preview_data_uri, read_api_image, read_upload


@dataclass(frozen=True)
class Predicted:
    """What a ``Predict`` answers for one upload."""

    reply: PredictReply
    #: More for the result page and the JSON, by name: the monolith's ``load_timings``, the seconds
    #: it spent getting a model ready for this one request. A dataclass becomes a JSON object.
    extra: Mapping[str, Any] = field(default_factory=dict)


#: ``predict(image_bytes, top)``: how a web app gets the ``top`` labels of one uploaded image.
Predict = Callable[[bytes, int], Predicted]

pages = Blueprint("pages", __name__)


def register_pages(app: Flask, predict: Predict) -> None:
    """Serve the pages and the JSON API on ``app``, predicting with ``predict``."""
    app.extensions["predict"] = predict
    app.register_blueprint(pages)


@pages.get("/")
def index() -> str:
    return render_template("index.html")


@pages.post("/uploader")
def upload_file() -> str:
    filename, image = read_upload(request)
    predicted, round_trip_ms = _predict(image)
    return render_template(
        "result.html", filename=filename, preview=preview_data_uri(image), reply=predicted.reply,
        round_trip_ms=round_trip_ms, untrained=predicted.reply.weights == UNTRAINED, **predicted.extra,
    )


@pages.post("/api/predict")
def api_predict() -> Response:
    image = read_api_image(request)
    predicted, round_trip_ms = _predict(image)
    return prediction_json(predicted.reply, round_trip_ms, **predicted.extra)


def _predict(image: bytes) -> tuple[Predicted, float]:
    """The app's ``Predict``, and the milliseconds this upload waited for it."""
    predict: Predict = current_app.extensions["predict"]
    started = time.perf_counter()
    predicted = predict(image, current_app.config["TOP"])
    return predicted, round((time.perf_counter() - started) * 1000, 1)


def prediction_json(reply: PredictReply, round_trip_ms: float, **extra: Any) -> Response:
    """``predictions``, ``weights``, ``model``, ``runtime`` and ``precision``, the server's
    ``timings`` (ms) and ``round_trip_ms``; errors have their own shape, in ``errors.py``."""
    return jsonify(
        predictions=[asdict(p) for p in reply.predictions], weights=reply.weights, model=reply.model,
        runtime=reply.runtime, precision=reply.precision,
        timings=asdict(reply.timings) if reply.timings else None, round_trip_ms=round_trip_ms, **extra,
    )
