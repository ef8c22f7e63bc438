"""The "before" of the lab: a Flask app that builds ResNet50 inside every request.

This is the original write-up's pain point, kept so it can be measured: each upload imports
TensorFlow (only the first time in a process), builds the model, loads its weights and traces
the first inference before it can classify one image. ``flask --app flask_server.monolith run``
serves it. Unlike ``flask_server.app`` it needs TensorFlow (the model extra) installed.

Its ``/api/predict`` answers the same JSON as the split app's, plus ``load_timings``: the seconds
this request spent importing TensorFlow, building ResNet50, loading weights and tracing.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any, Mapping

from flask import Flask, current_app, jsonify, render_template, request

from model_server.models.pipeline import classify_image
from model_server.models.tensorflow_model import LoadTimings, ResNet50Classifier
from model_server.protocol import UNTRAINED, PredictReply

from .api import prediction_json
from .config import configure
from .errors import register_error_handlers
from .headers import install_security_headers
from .uploads import preview_data_uri, read_api_image, read_upload


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    configure(app, test_config, MODEL_WEIGHTS="auto")
    app.jinja_env.globals["monolith"] = True
    register_error_handlers(app)
    install_security_headers(app)

    @app.get("/")
    def index():
        return render_template("index.html")

    @app.get("/healthz")
    def healthz():
        """Alive: the monolith has no model to check until a request builds one."""
        return jsonify(status="ok")

    @app.post("/uploader")
    def upload_file():
        filename, image = read_upload(request)
        reply, round_trip_ms, load_timings = _classify_with_a_new_model(image)
        return render_template(
            "result.html", filename=filename, preview=preview_data_uri(image), reply=reply,
            round_trip_ms=round_trip_ms, untrained=reply.weights == UNTRAINED, load_timings=load_timings,
        )

    @app.post("/api/predict")
    def api_predict():
        image = read_api_image(request)
        reply, round_trip_ms, load_timings = _classify_with_a_new_model(image)
        return prediction_json(reply, round_trip_ms, load_timings=asdict(load_timings))

    return app


def _classify_with_a_new_model(image: bytes) -> tuple[PredictReply, float, LoadTimings]:
    """The pain point, on purpose: the model is built for this one request and then dropped."""
    started = time.perf_counter()
    classifier = ResNet50Classifier.load(current_app.config["MODEL_WEIGHTS"])
    predictions, timings = classify_image(classifier, image, current_app.config["TOP"])
    reply = PredictReply(predictions, classifier.weights, classifier.model_name, timings,
                         runtime=classifier.runtime, precision=classifier.precision)
    return reply, round((time.perf_counter() - started) * 1000, 1), classifier.load_timings
