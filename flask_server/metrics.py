"""Prometheus metrics of the web app at ``GET /metrics`` (prometheus-client).

Requests by route and status, their latency, the model server's round trip, predictions by the
runtime and precision that computed them, and every error by its code. Each app gets its own
registry, so several apps in one process (tests) do not collide.

The model server's own numbers (``model_server_*``: queue depth, batch sizes, workers, errors by
code, lost workers, retries) are asked for on every scrape with its ``stats`` request, with a
short timeout; ``model_server_up`` is 0 when it did not answer.
"""

from __future__ import annotations

import time
from typing import Iterator

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from model_server.client import ModelClient
from model_server.protocol import WORKER_KINDS, ServerError, ServerStats

#: Latency buckets in seconds: ResNet50 answers in tens of milliseconds, a monolith in seconds.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Images per forward pass: the model server's --max-batch is 8 by default.
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


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


class ModelServerCollector:
    """Exports the model server's stats, asked for at each scrape through ``client``.

    ``client`` should have a short timeout and no retries: a scrape must not hang on a model
    server that is down.
    """

    def __init__(self, client: ModelClient):
        self._client = client

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("model_server_up", "1 if the model server answered its stats request")
        try:
            stats = self._client.stats()
        except (ServerError, ValueError):
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _stats_metrics(stats)


def _stats_metrics(stats: ServerStats) -> Iterator[Metric]:
    yield GaugeMetricFamily("model_server_queue_depth",
                            "Requests in the model server: waiting plus being answered",
                            value=stats.queue_depth)
    yield GaugeMetricFamily("model_server_waiting", "Requests waiting for a free worker",
                            value=stats.waiting)
    yield GaugeMetricFamily("model_server_max_queue", "Requests the model server takes before 'busy'",
                            value=stats.max_queue)
    capacity = GaugeMetricFamily("model_server_worker_threads", "Worker threads by kind", labels=["kind"])
    processes = GaugeMetricFamily("model_server_workers", "Workers (local pool or remote process) by kind",
                                  labels=["kind"])
    for kind in WORKER_KINDS:
        of_kind = [worker for worker in stats.workers if worker.kind == kind]
        capacity.add_metric([kind], sum(worker.capacity for worker in of_kind))
        processes.add_metric([kind], len(of_kind))
    yield capacity
    yield processes
    buckets = [(str(bound), sum(count for size, count in stats.batch_sizes.items() if size <= bound))
               for bound in BATCH_SIZE_BUCKETS]
    buckets.append(("+Inf", sum(stats.batch_sizes.values())))
    yield HistogramMetricFamily(
        "model_server_batch_size", "Images per forward pass of the model", buckets=buckets,
        sum_value=sum(size * count for size, count in stats.batch_sizes.items()))
    yield CounterMetricFamily("model_server_requests", "Requests the model server accepted",
                              value=stats.requests)
    errors = CounterMetricFamily("model_server_errors", "Error replies of the model server by code",
                                 labels=["code"])
    for code, count in sorted(stats.errors.items()):
        errors.add_metric([code], count)
    yield errors
    yield CounterMetricFamily("model_server_workers_lost", "Remote workers given up (no heartbeat)",
                              value=stats.workers_lost)
    yield CounterMetricFamily("model_server_retries", "Requests sent again after their worker was lost",
                              value=stats.retries)


def install_metrics(app: Flask, model_server: ModelClient | None = None) -> WebMetrics:
    """``/metrics`` for ``app``; with ``model_server``, the model server's stats too."""
    metrics = WebMetrics()
    if model_server is not None:
        metrics.registry.register(ModelServerCollector(model_server))
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
