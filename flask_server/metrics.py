"""Prometheus metrics of the web app at ``GET /metrics`` (prometheus-client).

Requests by route and status, their latency, the model server's round trip, predictions by the
runtime and precision that computed them, and every error by its code. Each app gets its own
registry, so several apps in one process (tests) do not collide.

Only the web app's own figures: the model server's (``model_server_*``: queue, batch sizes,
workers, errors by code...) are scraped from the model server's own ``/metrics``
(``--http-address``). This app used to ask the model server for them at every scrape and relay
them, so that one model server behind several web app processes was counted once per process,
and a scrape waited on a model server that was down.
"""

from __future__ import annotations

import time

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

#: Latency buckets in seconds: ResNet50 answers in tens of milliseconds, a monolith in seconds.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class WebMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("webapp_requests", "HTTP requests answered",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("webapp_request_seconds", "Time to answer an HTTP request",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.model_server_latency = Histogram(
            "webapp_model_server_seconds", "Round trip of a prediction to the model server",
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self.predictions = Counter(
            "webapp_predictions", "Predictions answered, by the model server's runtime and precision",
            ["runtime", "precision"], registry=self.registry)
        self.errors = Counter("webapp_errors", "Error answers by their code",
                              ["code", "status"], registry=self.registry)


def install_metrics(app: Flask) -> WebMetrics:
    """``/metrics`` for ``app``, and the counting of every request it answers."""
    metrics = WebMetrics()
    app.extensions["metrics"] = metrics

    @app.before_request
    def start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def count(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.requests.labels(route, str(response.status_code)).inc()
        started = g.get("request_started")
        if started is not None:
            metrics.latency.labels(route).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    return metrics
