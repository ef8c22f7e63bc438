"""The "load once in the web process" alternative: the model is a global inside the Flask app.

Fast, but the web app now needs TensorFlow, every web worker process holds its own model, and
web and model cannot be scaled or placed apart. Served by waitress for the benchmark.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request

from model_server.models.pipeline import classify_image
from model_server.models.tensorflow_model import ResNet50Classifier


def create_app() -> Flask:
    app = Flask(__name__)
    classifier = ResNet50Classifier.load("random")

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.post("/api/predict")
    def predict() -> Response:
        predictions, timings = classify_image(classifier, request.files["file"].read(), 3)
        return jsonify(predictions=[vars(p) for p in predictions], timings=vars(timings))

    return app
