"""The Prometheus metrics of the model server and of its remote workers, each process its own.

Each process counts the work it did itself, so that a sum over all of them counts everything once
(the web app no longer relays the broker's figures, which counted one model server once per web
pod):

- the broker (``python -m model_server``): its queue, the requests and replies of its clients,
  errors by code, workers joined and lost, retries, late replies dropped (``BrokerCollector``);
- every process with worker threads (the server's own, a remote worker): its forward passes by
  size, the stages of the requests it answered, the threads it gave up as hung
  (``StageLatencies``, ``WorkerPoolCollector``); the broker's ``stats`` request still sums the
  batch sizes of every worker, as remote workers report them in their heartbeats;
- a remote worker: its link to the broker (``BrokerLinkCollector``).

The collectors read at each scrape what the other threads publish (see ``probes``); the stage
histograms are observed by the worker threads themselves (prometheus-client locks them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from ..protocol import WORKER_KINDS, ServerStats, Timings

#: Images per forward pass: the model server's --max-batch is 8 by default.
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
#: Seconds of one stage of a request: a decode takes milliseconds, a forward pass tens to
#: hundreds, a request under load seconds.
STAGE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: The fields of ``Timings``, each a ``stage`` of ``model_server_stage_seconds``.
STAGES = ("decode", "queue", "preprocess", "inference", "total")


class StageLatencies:
    """``model_server_stage_seconds{stage}``: the ``Timings`` of every prediction answered here."""

    def __init__(self, registry: CollectorRegistry):
        histogram = Histogram(
            "model_server_stage_seconds",
            "Seconds of each stage of the predictions this process answered: decode, queue (for "
            "the model), preprocess and inference (of the whole batch), total (in the worker)",
            ["stage"], buckets=STAGE_BUCKETS_S, registry=registry)
        self._stages = {stage: histogram.labels(stage) for stage in STAGES}

    def observe(self, timings: Timings) -> None:
        for stage, child in self._stages.items():
            child.observe(getattr(timings, stage) / 1000.0)


def batch_size_histogram(batch_sizes: dict[int, int]) -> HistogramMetricFamily:
    """``model_server_batch_size``: forward passes by their number of images (``{size: count}``)."""
    buckets = [(str(bound), sum(count for size, count in batch_sizes.items() if size <= bound))
               for bound in BATCH_SIZE_BUCKETS]
    buckets.append(("+Inf", sum(batch_sizes.values())))
    return HistogramMetricFamily(
        "model_server_batch_size", "Images per forward pass of the model in this process",
        buckets=buckets, sum_value=sum(size * count for size, count in batch_sizes.items()))


class PoolFigures(Protocol):
    """What a ``WorkerPool`` publishes for its metrics (read from any thread)."""

    @property
    def batch_sizes(self) -> dict[int, int]: ...

    @property
    def hung_forward_passes(self) -> int: ...

    @property
    def abandoned_decodes(self) -> int: ...

    def still_stuck(self) -> tuple[int, int]: ...


class WorkerPoolCollector:
    """A worker pool's forward passes by size, and the threads it gave up as hung."""

    def __init__(self, pool: PoolFigures):
        self._pool = pool

    def collect(self) -> Iterator[Metric]:
        yield batch_size_histogram(self._pool.batch_sizes)
        forward_passes, decodes = self._pool.still_stuck()
        stuck = GaugeMetricFamily(
            "model_server_stuck_threads",
            "Threads given up as hung (--hang-timeout-s) that have not returned; /livez is 503 "
            "while there are any", labels=["stage"])
        stuck.add_metric(["forward_pass"], forward_passes)
        stuck.add_metric(["decode"], decodes)
        yield stuck
        yield CounterMetricFamily("model_server_hung_forward_passes",
                                  "Forward passes given up as hung (their requests: worker_lost)",
                                  value=self._pool.hung_forward_passes)
        yield CounterMetricFamily("model_server_abandoned_decodes",
                                  "Image decodes given up as hung (their requests: decode_timeout)",
                                  value=self._pool.abandoned_decodes)


class BrokerCollector:
    """The broker's own figures, from the ``ServerStats`` its thread computes at each scrape.

    ``ask_stats`` returns ``None`` when the broker did not answer in time (a stalled loop, which
    ``/livez`` reports); the scrape then has none of the broker's figures rather than old ones.
    """

    def __init__(self, ask_stats: Callable[[], ServerStats | None]):
        self._ask_stats = ask_stats

    def collect(self) -> Iterator[Metric]:
        stats = self._ask_stats()
        if stats is not None:
            yield from broker_metrics(stats)


#: The broker's figures that are one number each: (metric, help, the ``ServerStats`` field).
BROKER_GAUGES = (
    ("model_server_waiting", "Requests waiting in the broker for a free worker", "waiting"),
    ("model_server_in_flight", "Requests a worker is answering", "in_flight"),
    ("model_server_queue_depth", "Requests in the model server: waiting plus in flight", "queue_depth"),
    ("model_server_max_queue", "Requests the model server holds before 'busy'", "max_queue"),
)
BROKER_COUNTERS = (
    ("model_server_requests", "Requests the broker accepted", "requests"),
    ("model_server_replies", "Replies the broker sent for them (errors too)", "replies"),
    ("model_server_workers_joined", "Remote workers that joined", "workers_joined"),
    ("model_server_workers_lost", "Remote workers given up (no heartbeat, or unreachable)", "workers_lost"),
    ("model_server_retries", "Requests sent again after their worker was lost", "retries"),
    ("model_server_late_replies_dropped", ("Worker replies dropped because their request was answered "
                                           "already (deadline passed, or sent to another worker)"),
     "late_replies"),
)
#: A remote worker's counts of its link to the broker: (metric, help, the ``LinkFigures`` attribute).
LINK_COUNTERS = (
    ("remote_worker_requests", "Requests the broker sent this worker", "requests_received"),
    ("remote_worker_replies", "Replies this worker sent the broker", "replies_sent"),
    ("remote_worker_reconnects", "New connections after the broker fell silent", "reconnects"),
)


def figures(source: object, gauges: Iterable[tuple[str, str, str]] = (),
            counters: Iterable[tuple[str, str, str]] = ()) -> Iterator[Metric]:
    """A metric for each ``(metric, help, attribute)`` of the tables, its value read from ``source``."""
    for name, help, attribute in gauges:
        yield GaugeMetricFamily(name, help, value=getattr(source, attribute))
    for name, help, attribute in counters:
        yield CounterMetricFamily(name, help, value=getattr(source, attribute))


def broker_metrics(stats: ServerStats) -> Iterator[Metric]:
    yield from figures(stats, BROKER_GAUGES, BROKER_COUNTERS)
    threads = GaugeMetricFamily("model_server_worker_threads", "Worker threads by kind (local/remote)",
                                labels=["kind"])
    processes = GaugeMetricFamily("model_server_workers",
                                  "Workers by kind: the local pool, or one remote worker process",
                                  labels=["kind"])
    for kind in WORKER_KINDS:
        of_kind = [worker for worker in stats.workers if worker.kind == kind]
        threads.add_metric([kind], sum(worker.capacity for worker in of_kind))
        processes.add_metric([kind], len(of_kind))
    yield threads
    yield processes
    errors = CounterMetricFamily("model_server_errors",
                                 "Error replies by code, the broker's own and the workers'",
                                 labels=["code"])
    for code, count in sorted(stats.errors.items()):
        errors.add_metric([code], count)
    yield errors


class LinkFigures(Protocol):
    """What a remote worker's ``BrokerLink`` publishes for its metrics (read from any thread)."""

    @property
    def requests_received(self) -> int: ...

    @property
    def replies_sent(self) -> int: ...

    @property
    def reconnects(self) -> int: ...

    def broker_connected(self) -> bool: ...


class BrokerLinkCollector:
    """A remote worker's link to its broker."""

    def __init__(self, link: LinkFigures):
        self._link = link

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "remote_worker_broker_connected",
            "1 if the broker was heard from within the heartbeat liveness window",
            value=int(self._link.broker_connected()))
        yield from figures(self._link, counters=LINK_COUNTERS)
