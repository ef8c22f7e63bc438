"""The monolith with notebook 02's ``handle_upload`` inside: the learner's "before", as a running app.

``flask_server.monolith`` builds ResNet50 inside every request with the lab's own code. This app
serves the same pages (``flask_server.pages``: ``/``, ``/uploader``, ``/api/predict``) but answers
each upload by calling ``handle_upload`` from ``exercises/nb02_monolith.py`` (or ``solutions/``) on
the real parts (``lab.monolith.parts.REAL_PARTS``), so that notebook 07 can time the learner's own
handler in a process that stays up, beside the same handler in a cold process per request.

    FLASK_HANDLER_PACKAGE=exercises FLASK_MODEL_WEIGHTS=random flask --app lab.monolith.handler_app run
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, current_app, jsonify

import flask_server
from flask_server.config import configure
from flask_server.errors import register_error_handlers
from flask_server.headers import install_security_headers
from flask_server.pages import Predicted, register_pages
from model_server.protocol import PredictReply

#: The configuration keys (``FLASK_`` + key in the environment) and their defaults.
DEFAULTS = {"HANDLER_PACKAGE": "exercises", "MODEL_WEIGHTS": "auto"}
MODEL_NAME = "ResNet50"
#: The monolith's loading stages (``flask_server.monolith``'s ``load_timings``) and the handler's
#: stage each is read from.
LOAD_STAGES = {"import_tensorflow": "import_tensorflow", "build_model": "build_model",
               "load_weights": "load_weights", "first_inference": "predict"}
#: The templates and static files of ``flask_server``, whose pages this app serves.
FLASK_SERVER = Path(flask_server.__file__).resolve().parent


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, template_folder=FLASK_SERVER / "templates", static_folder=FLASK_SERVER / "static")
    configure(app, test_config, **DEFAULTS)
    app.jinja_env.globals["monolith"] = True
    register_error_handlers(app)
    install_security_headers(app)
    register_pages(app, _classify_with_the_handler)

    @app.get("/healthz")
    def healthz():
        """Alive: like the monolith, there is no model to check until a request builds one."""
        return jsonify(status="ok")

    return app


def _weights_file() -> str:
    """The weights file of ``MODEL_WEIGHTS``, found (or, for untrained weights, written) once."""
    config = current_app.config
    if "WEIGHTS_FILE" not in config:
        from model_server.models.tensorflow_model import weights_file
        from model_server.models.weights import resolve_weights, weights_label

        config["WEIGHTS_FILE"] = str(weights_file(config["MODEL_WEIGHTS"]))
        config["WEIGHTS_LABEL"] = weights_label(resolve_weights(config["MODEL_WEIGHTS"]))
    return config["WEIGHTS_FILE"]


def _classify_with_the_handler(image: bytes, top: int) -> Predicted:
    """One upload through ``handle_upload``; its stages become the page's ``load_timings`` (the
    handler's ``predict``, the fresh model's first call, is the monolith's first inference)."""
    from .parts import REAL_PARTS

    package = current_app.config["HANDLER_PACKAGE"]
    handler = importlib.import_module(f"{package}.nb02_monolith").handle_upload
    predictions, stages = handler(image, _weights_file(), REAL_PARTS, top)
    reply = PredictReply(list(predictions), current_app.config["WEIGHTS_LABEL"], MODEL_NAME)
    load_timings = {name: float(stages.get(stage, 0.0)) for name, stage in LOAD_STAGES.items()}
    return Predicted(reply, {"load_timings": load_timings})
