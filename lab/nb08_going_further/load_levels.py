"""Several clients at once against a model server, and the bare model as the limit (notebook 08).

The load is a closed loop (N client threads, each sending a request, waiting for its reply and
sending the next) on ``harness.sample_images.photo_jpegs``: the learner's ``closed_loop`` from
``exercises/nb08_load.py`` when a cell passes it, else the benchmark's own ``harness.load.run_load``.
This module only keeps every reply as well, so the notebook can show how many images shared each forward
pass (``reply.batch``) and which worker process answered (``reply.worker``), and it fails loudly
when a request fails: a timing that includes errors is a wrong number, not a slow one.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harness.bare import measure_in_subprocess
from harness.load import (
    Call,
    ClosedLoop,
    LoadResult,
    LoadRun,
    measured_load,
    summarize,
)
from harness.stats import MeasurementFailed
from lab import settings
from lab.show.progress import measuring
from model_server.client import ModelClient
from model_server.protocol import F32, TENSORFLOW, PredictReply

#: How many clients send at once, in the notebook's runs.
CONCURRENCY = (1, 4, 8)
#: Requests each client sends one at a time before timing starts; their replies are not counted.
WARMUP = 1
#: Seconds one request may take under load before it counts as failed.
REQUEST_TIMEOUT_S = 60.0
#: The bare model's timed runs of a batch of one, and the batch sizes tried: up to 8, the most our
#: server puts in one batch (the benchmark also tries 16).
BARE_REPEATS = 8
BARE_BATCH_SIZES = (1, 2, 4, 8)
#: How far a server may seem to beat the bare model before that counts as a sign of a busy machine.
NOISE_MARGIN = 0.05

ONE_WORKER = "our server, 1 worker, no batching, base64 JSON"
OUR_SERVER = "our server: 8 workers, batches of up to 8, two frames"


@dataclass(frozen=True)
class RequestSpan:
    """One timed request as its client saw it, for a timeline of who waited for whom.

    ``sent_s`` and ``replied_s`` are seconds since the first timed request of the run was sent;
    ``reply`` carries the server's own timings, which say how much of the span was spent in a
    worker and in the forward pass.
    """

    client: int
    sent_s: float
    replied_s: float
    reply: PredictReply = field(repr=False)

    @property
    def seconds(self) -> float:
        return self.replied_s - self.sent_s

    @property
    def in_worker_s(self) -> float:
        """Seconds a worker held the request (decoding, waiting for the model, the forward pass)."""
        return min(self.seconds, self.reply.timings.total / 1000)

    @property
    def forward_pass_s(self) -> float:
        """Seconds of the (possibly shared) forward pass that answered it, preprocessing included."""
        return min(self.in_worker_s, (self.reply.timings.preprocess + self.reply.timings.inference) / 1000)

    @property
    def waiting_for_worker_s(self) -> float:
        """Seconds before a worker took it: in the server's queue and on the wire."""
        return self.seconds - self.in_worker_s


@dataclass(frozen=True)
class LoadLevel:
    """One concurrency level against one server: the benchmark's numbers and what the replies said."""

    server: str
    result: LoadResult
    #: Batch size → how many timed replies came from a forward pass of that size.
    batches: Mapping[int, int]
    #: Worker process (``host:pid``) → how many timed replies it sent.
    workers: Mapping[str, int]
    #: Every timed request, client by client, in the order it was sent.
    spans: Sequence[RequestSpan] = ()
    #: What the learner's generator returned, when it made the load.
    run: LoadRun | None = None

    @property
    def clients(self) -> int:
        return self.result.concurrency

    @property
    def mean_batch(self) -> float:
        """The batch size the average request shared its forward pass with."""
        return sum(size * count for size, count in self.batches.items()) / sum(self.batches.values())

    def as_row(self) -> dict[str, object]:
        return {
            "server": self.server,
            "clients": self.clients,
            "requests": self.result.requests,
            "images per second": self.result.throughput,
            "median (ms)": self.result.median_ms,
            "p95 (ms)": self.result.p95_ms,
            "batch sizes seen (size×replies)": batch_counts_text(self.batches),
        }


def batch_counts_text(batches: Mapping[int, int]) -> str:
    """``{1: 3, 8: 16}`` as ``"1×3, 8×16"``."""
    return ", ".join(f"{size}×{count}" for size, count in sorted(batches.items()))


def _recording_calls(client: ModelClient, sent: list[tuple[int, float, float, PredictReply]], skip: int):
    """``make_call`` for ``run_load``: each client's call keeps its replies after its ``skip`` warm-ups.

    ``run_load`` builds one call per client, in order, so the n-th call made is client n; each
    kept reply comes with its client and the ``perf_counter`` times it was sent and answered.
    """
    clients = 0

    def make_call() -> Call:
        nonlocal clients
        index, calls = clients, 0
        clients += 1

        def call(image: bytes) -> PredictReply:
            nonlocal calls
            calls += 1
            began = time.perf_counter()
            reply = client.predict(image)
            if calls > skip:
                sent.append((index, began, time.perf_counter(), reply))
            return reply

        return call

    return make_call


def spans_of(sent: Sequence[tuple[int, float, float, PredictReply]]) -> list[RequestSpan]:
    """``(client, sent, replied, reply)`` in ``perf_counter`` seconds as spans from the first send."""
    if not sent:
        return []
    zero = min(began for _, began, _, _ in sent)
    return sorted((RequestSpan(index, began - zero, ended - zero, reply) for index, began, ended, reply in sent),
                  key=lambda span: (span.client, span.sent_s))


def generated_load(
    closed_loop: ClosedLoop, client: ModelClient, images: Sequence[bytes], concurrency: int,
    requests: int, what: str, sent: list[tuple[int, float, float, PredictReply]],
) -> tuple[LoadResult, LoadRun]:
    """The learner's ``closed_loop`` sending ``images`` through ``client``: a warm-up run of
    ``WARMUP`` requests per client, then ``requests`` timed ones, each kept in ``sent``.

    Client numbers are the order in which the generator's threads first send. Any failure raises
    ``MeasurementFailed`` naming ``what``.
    """
    clients: dict[int, int] = {}
    lock = threading.Lock()

    def send_to(kept: list | None):
        def send(number: int) -> PredictReply:
            with lock:
                index = clients.setdefault(threading.get_ident(), len(clients))
            began = time.perf_counter()
            reply = client.predict(images[number % len(images)])
            if kept is not None:
                kept.append((index, began, time.perf_counter(), reply))
            return reply
        return send

    try:
        closed_loop(send_to(None), concurrency, concurrency * WARMUP)
        clients.clear()
        run = closed_loop(send_to(sent), concurrency, requests)
    except Exception as error:
        raise MeasurementFailed(f"{what}: {error!r}") from error
    result = summarize([seconds * 1000.0 for seconds in run.latencies_s], concurrency, run.requests,
                       0, run.wall_s)
    return result, run


def under_load(
    server: str, address: str, images: Sequence[bytes], binary: bool = True,
    levels: Sequence[int] = CONCURRENCY, requests: int | None = None,
    timeout: float = REQUEST_TIMEOUT_S, progress: bool | None = None,
    closed_loop: ClosedLoop | None = None,
) -> list[LoadLevel]:
    """A closed loop at each concurrency level against the model server at ``address``.

    ``server`` labels the rows; ``binary=False`` sends one base64 JSON frame, as the original does; ``requests``
    per level defaults to the lab's ``load_requests`` setting (``LAB_LOAD_REQUESTS``), rounded down
    to a multiple of the clients. ``closed_loop``: the learner's generator (``exercises/nb08_load.py``);
    without it, ``run_load``. Raises ``harness.stats.MeasurementFailed`` if any request fails.
    ``progress``: a bar per level (``None``: in a notebook only).
    """
    requests = requests or settings.load().load_requests
    measured = []
    with ModelClient(address, timeout=timeout, retries=0, binary=binary) as client:
        for concurrency in measuring(levels, f"{server} at {len(levels)} load levels",
                                     len(levels), progress):
            sent: list[tuple[int, float, float, PredictReply]] = []
            what, run = f"{server}, {concurrency} clients", None
            if closed_loop is None:
                result = measured_load(_recording_calls(client, sent, WARMUP), list(images), concurrency,
                                       requests, what, warmup=WARMUP)
            else:
                timed = max(1, requests // concurrency) * concurrency
                result, run = generated_load(closed_loop, client, images, concurrency, timed, what, sent)
            replies = [reply for *_, reply in sent]
            measured.append(LoadLevel(server, result, Counter(r.batch for r in replies),
                                      Counter(r.worker for r in replies), spans_of(sent), run))
    return measured


def side_by_side(one_worker: Sequence[LoadLevel], ours: Sequence[LoadLevel]) -> list[dict[str, object]]:
    """At each number of clients both were measured at: ours against itself cut down to one worker
    without batching."""
    theirs = {level.clients: level.result for level in one_worker}
    return [{
        "clients": mine.clients,
        "throughput: ours ÷ 1 worker": round(mine.result.throughput / theirs[mine.clients].throughput, 2),
        "median (ms): 1 worker": theirs[mine.clients].median_ms,
        "median (ms): ours": mine.result.median_ms,
        "ours: images per forward pass": round(mine.mean_batch, 1),
    } for mine in ours if mine.clients in theirs]


@dataclass(frozen=True)
class BareModel:
    """The compiled model alone in one process: no decoding, no sockets (``harness.bare``)."""

    #: Milliseconds for one image (batch of one).
    latency_ms: float
    best_batch: int
    #: Images per second at ``best_batch``.
    best_throughput: float
    #: Milliseconds to decode one of the photos (a cost the servers pay and the bare model not).
    decode_ms: float
    #: Batch size → (milliseconds per batch, images per second).
    batches: Mapping[int, tuple[float, float]]

    @classmethod
    def from_measurement(cls, measured: Mapping) -> BareModel:
        """From the JSON that ``python -m harness.bare`` prints."""
        return cls(
            latency_ms=measured["latency_ms"], best_batch=int(measured["best_batch"]),
            best_throughput=measured["best_throughput"], decode_ms=measured["decode_ms"],
            batches={int(size): (row["ms_per_batch"], row["throughput"])
                     for size, row in measured["batches"].items()},
        )

    @property
    def batch_one_throughput(self) -> float:
        return self.batches[1][1]

    @property
    def batching_gain(self) -> float:
        """How many times the images per second of single images the best batch gives: all that
        batching can add to a server's throughput on this machine."""
        return self.best_throughput / self.batch_one_throughput

    def as_rows(self) -> list[dict[str, object]]:
        return [{"batch size": size, "ms per batch": ms, "images per second": throughput}
                for size, (ms, throughput) in sorted(self.batches.items())]


def measure_bare_model(
    repeats: int = BARE_REPEATS, batch_sizes: Sequence[int] = BARE_BATCH_SIZES,
    runtime: str = TENSORFLOW, precision: str = F32,
) -> BareModel:
    """Time the bare model in its own process (it imports TensorFlow; the notebook does not)."""
    return BareModel.from_measurement(measure_in_subprocess(repeats, batch_sizes, runtime, precision))


def against_limit(levels: Sequence[LoadLevel], bare: BareModel) -> list[dict[str, object]]:
    """Each level's throughput as a share of the bare model's best, and its latency above batch 1."""
    return [{
        "server": level.server,
        "clients": level.clients,
        "images per second": level.result.throughput,
        "÷ bare best": round(level.result.throughput / bare.best_throughput, 2),
        "median − bare batch-1 (ms)": round(level.result.median_ms - bare.latency_ms, 1),
    } for level in levels]


def impossible_results(levels: Sequence[LoadLevel], bare: BareModel) -> list[str]:
    """Signs that the machine was busy with something else while one of them was measured.

    No server can answer faster than the model alone: a level above the bare model's best
    throughput, or a median below its batch-1 time, means the two were measured under different
    loads, and the ratios between them say little.
    """
    signs = []
    for level in levels:
        if level.result.throughput > bare.best_throughput * (1 + NOISE_MARGIN):
            signs.append(f"{level.server}, {level.clients} at once: {level.result.throughput} images/s, "
                         f"above the bare model's best ({bare.best_throughput})")
        if level.result.median_ms < bare.latency_ms * (1 - NOISE_MARGIN):
            signs.append(f"{level.server}, {level.clients} at once: median {level.result.median_ms} ms, "
                         f"below the bare model's batch-1 time ({bare.latency_ms} ms)")
    return signs
