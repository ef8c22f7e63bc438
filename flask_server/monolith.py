"""The "before" of the lab: a Flask app that builds ResNet50 inside every request.

This is the original write-up's pain point, kept so it can be measured: each upload imports
TensorFlow (only the first time in a process), builds the model, loads its weights and traces
the first inference before it can classify one image. ``flask --app flask_server.monolith run``
serves it. Unlike ``flask_server.app`` it needs TensorFlow (the model extra) installed.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

from flask import Flask, current_app, jsonify, render_template, request

from model_server.pipeline import classify_image
from model_server.protocol import UNTRAINED, PredictReply

from .config import configure
from .errors import register_error_handlers
from .uploads import preview_data_uri, read_upload


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    configure(app, test_config, MODEL_WEIGHTS="auto")
    app.jinja_env.globals["monolith"] = True
    register_error_handlers(app)

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
        started = time.perf_counter()
        # The pain point, on purpose: the model is built for this one request and then dropped.
        from model_server.model import ResNet50Classifier

        classifier = ResNet50Classifier.load(current_app.config["MODEL_WEIGHTS"])
        predictions, timings = classify_image(classifier, image, current_app.config["TOP"])
        reply = PredictReply(predictions, classifier.weights, classifier.model_name, timings,
                             runtime=classifier.runtime, precision=classifier.precision)
        return render_template(
            "result.html", filename=filename, preview=preview_data_uri(image), reply=reply,
            round_trip_ms=round((time.perf_counter() - started) * 1000, 1),
            untrained=classifier.weights == UNTRAINED, load_timings=classifier.load_timings,
        )

    return app
