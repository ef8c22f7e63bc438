"""The web app of the split design: a Flask client of the model server, with no TensorFlow.

``flask --app flask_server.app run`` serves it; ``MODEL_SERVER_ADDRESS`` says where the model
server listens, and ``MODEL_SERVER_CLIENT_SECRET_KEY`` with ``MODEL_SERVER_SERVER_PUBLIC_KEY``
name the web app's CURVE key files when the model server requires keys (``config.py`` lists every
``MODEL_SERVER_*`` setting, timeouts and retries too). The pages and the JSON API are
``pages.py``'s, shared with the monolith; here uploads go to the model server through
``ModelClient``, as the decoded 224×224 pixels (the decode the preview needs anyway, so the
model server does not decode again), or as the file with ``MODEL_SERVER_SEND_PIXELS=0``. When
the server is down the app answers 503 and recovers by itself when it comes back; ``/healthz``,
``/readyz`` and ``/metrics`` say how it is doing (the model server's own figures are on its own
``/metrics``, see ``metrics``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, jsonify

from model_server.client import ModelClient
from model_server.curve import ClientKeys
from model_server.images import resized_pixels
from model_server.protocol import ServerError

from .config import KEY_VARIABLES, configure
from .errors import register_error_handlers
from .headers import install_security_headers
from .metrics import install_metrics
from .pages import Predicted, register_pages
from .uploads import decoded_upload

#: Seconds a health check waits for the model server's answer, and for a connection to it: a
#: health check must answer quickly even when the model server is down.
HEALTH_TIMEOUT_S = 1.0
HEALTH_CONNECT_TIMEOUT_S = 0.2


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    configure(app, test_config)
    keys = ClientKeys.from_files(*(app.config[name] for name in KEY_VARIABLES))
    app.extensions["model_client"] = ModelClient(
        app.config["MODEL_SERVER_ADDRESS"],
        timeout=app.config["MODEL_SERVER_TIMEOUT"],
        retries=app.config["MODEL_SERVER_RETRIES"],
        connect_timeout=app.config["MODEL_SERVER_CONNECT_TIMEOUT"],
        keys=keys,
    )
    app.extensions["health_client"] = ModelClient(
        app.config["MODEL_SERVER_ADDRESS"], timeout=HEALTH_TIMEOUT_S, retries=0,
        connect_timeout=HEALTH_CONNECT_TIMEOUT_S, keys=keys,
    )
    register_error_handlers(app)
    install_security_headers(app)
    install_metrics(app)
    register_pages(app, _ask_the_model_server)

    @app.get("/healthz")
    def healthz() -> Response:
        """Always 200 while the web app runs; says whether the model server answers."""
        return jsonify(status="ok", model_server=_model_server_status())

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        """200 only when the model server answers: the web app can serve predictions."""
        status = _model_server_status()
        return jsonify(status="ready" if status["up"] else "unavailable", model_server=status), (
            200 if status["up"] else 503
        )

    return app


def _ask_the_model_server(image: bytes, top: int) -> Predicted:
    """The split app's way of predicting, counted in its metrics (only the answered ones)."""
    client: ModelClient = current_app.extensions["model_client"]
    sent = (resized_pixels(decoded_upload(image)) if current_app.config["MODEL_SERVER_SEND_PIXELS"]
            else image)
    started = time.perf_counter()
    reply = client.predict(sent, top=top)
    metrics = current_app.extensions["metrics"]
    metrics.model_server_latency.observe(time.perf_counter() - started)
    metrics.predictions.labels(reply.runtime or "unknown", reply.precision or "unknown").inc()
    return Predicted(reply)


def _model_server_status() -> dict[str, Any]:
    client: ModelClient = current_app.extensions["health_client"]
    try:
        info = client.ping()
    except ServerError as error:
        return {"up": False, "address": client.address, "error": error.message}
    return {"up": True, "address": client.address, "model": info.model, "weights": info.weights,
            "runtime": info.runtime, "precision": info.precision}
