"""The "before" of the lab: a Flask app that builds ResNet50 inside every request.

This is the original write-up's pain point, kept so it can be measured: each upload imports
TensorFlow (only the first time in a process), builds the model, loads its weights and traces
the first inference before it can classify one image. ``flask --app flask_server.monolith run``
serves it. Unlike ``flask_server.app`` it needs TensorFlow (the model extra) installed.

Its pages and ``/api/predict`` are the split app's (``pages.py``); the result page and the JSON add
``load_timings``: the seconds this request spent importing TensorFlow, building ResNet50, loading
weights and tracing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, jsonify

from model_server.models.pipeline import classify_image, reply_from
from model_server.models.tensorflow_model import ResNet50Classifier

from .config import configure
from .errors import register_error_handlers
from .headers import install_security_headers
from .pages import Predicted, register_pages


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    configure(app, test_config, MODEL_WEIGHTS="auto")
    app.jinja_env.globals["monolith"] = True
    register_error_handlers(app)
    install_security_headers(app)
    register_pages(app, _classify_with_a_new_model)

    @app.get("/healthz")
    def healthz() -> Response:
        """Alive: the monolith has no model to check until a request builds one."""
        return jsonify(status="ok")

    return app


def _classify_with_a_new_model(image: bytes, top: int) -> Predicted:
    """The pain point, on purpose: the model is built for this one request and then dropped."""
    classifier = ResNet50Classifier.load(current_app.config["MODEL_WEIGHTS"])
    predictions, timings = classify_image(classifier, image, top)
    return Predicted(reply_from(classifier, predictions, timings), {"load_timings": classifier.load_timings})
