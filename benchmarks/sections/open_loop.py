"""Open-loop load: requests arrive on a Poisson schedule, whether or not earlier ones were answered.

A closed loop (``load.py``) has N clients that each wait for their reply before sending again, so a
slow server slows its own load down and never sees more than N requests at once. A public service
sees the opposite: users do not wait for each other. Here requests are sent at times drawn from a
Poisson process (exponential gaps, from a seeded generator) at an offered rate, for a bounded time
and a bounded count, and each one ends as one of four outcomes: answered (with predictions),
answered ``busy`` (the server's queue is full; through the web app, 503), another error, or no
reply within the timeout. This is Triton's ``perf_analyzer --request-rate-range`` with Poisson
arrivals, and the MLPerf Inference *Server* scenario (Poisson arrivals, a p99 latency bound).

Two senders, one schedule:

- ``run_zmq``: one thread and one DEALER socket. Between two sends it polls for replies until the
  next send is due; replies are matched to requests by the ``"id"`` each one echoes, so they may
  come back in any order. Each request carries ``"deadline_ms"`` (the timeout), so the server stops
  working on what nobody waits for any more; a ``deadline_exceeded`` reply counts as a timeout, as
  ``ModelClient`` counts it.
- ``run_http``: the calling thread keeps the schedule and hands each request, at its time, to a pool
  of sender threads, sized so that it can hold every request of the schedule that could still be
  waiting for its reply; they share one pool of keep-alive connections (``http_pool``).

Either way each request's **lateness** (when it was sent minus when the schedule said) is kept, so
a generator that cannot keep up is visible and not mistaken for a slow server. Latency is counted
from the actual send.

Safety: both senders refuse any address that is not this machine's loopback (``NotLoopback``),
and a run ends at most ``timeout_s`` after its last send; schedules are bounded in time
and in count.

``measure()`` is the benchmark's section: one model server, through the client and then through
the web app (waitress). For each path the one-client latency and the capacity (closed loop, 8
clients) set the offered rates, from a quarter to twice that capacity; both are measured again
right before every rate, and the report judges the path against their medians: on a shared
machine they drift within minutes, more than the effects being judged (see "Open loop" in
``docs/benchmark.md``). ``python -m benchmarks --only "open loop"`` runs it and stores it under
``open_loop``; ``python -m benchmarks.sections.open_loop`` runs it alone and prints JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import math
import platform
import queue
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from urllib.parse import urlsplit

import numpy as np
import urllib3
import zmq

from benchmarks.systems.launch import runtime_args
from harness.launch import WAITRESS_THREADS, start_model_server, start_web_app
from harness.load import Call, LoadResult, run_load
from harness.sample_images import photo_jpegs
from harness.stats import percentile
from model_server.client import ModelClient
from model_server.protocol import (
    F32,
    OPENVINO,
    PRECISIONS,
    RUNTIMES,
    TENSORFLOW,
    ErrorCode,
    RequestError,
    ServerError,
    decode_reply,
    encode_request_frames,
    request_id_of,
)

#: Offered rates, as multiples of the path's capacity as first measured.
RATE_FACTORS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
QUICK_RATE_FACTORS = (0.5, 1.0, 2.0)
#: Seconds of arrivals per offered rate (each lasts until its last reply or timeout). With the
#: references before each rate, two paths take about 2 min 50 s here (8 s took 3 min 12 s); at 2×
#: the excess still fills the server's queue of 64 in 3–4 s.
SECONDS_PER_RATE = 6.0
QUICK_SECONDS_PER_RATE = 3.0
#: At most this many requests per offered rate, whatever the rate and duration.
MAX_REQUESTS_PER_RATE = 4000
#: Seconds a request may wait for its reply. Above the longest wait of an answered request at 2×
#: capacity (the full queue: 64 requests at ~16 img/s is 4 s, plus a batch) with room for noise.
REPLY_TIMEOUT_S = 10.0
#: Sender threads of the HTTP path at most; fewer when the schedule cannot need as many.
MAX_HTTP_SENDERS = 512
#: Closed-loop measurements made right before the offered rates.
CAPACITY_CLIENTS = 8
CAPACITY_REQUESTS = 48
ONE_CLIENT_REQUESTS = 10
#: The model server's settings, as in the benchmark's "our server" rows.
WORKERS = 8
MAX_BATCH = 8
#: Seconds of quiet between two offered rates, once the model server holds no request.
PAUSE_BETWEEN_RATES_S = 0.5
#: How often the model server's queue depth is read (``stats``, answered by its broker) during a rate.
QUEUE_PROBE_INTERVAL_S = 0.2
SEED = 0
#: The paths measured by default; their names are the keys of the results.
CLIENT_PATH = "client"
WEB_PATH = "web app (waitress)"
PATHS = (CLIENT_PATH, WEB_PATH)
PATH_FLAGS = {"client": CLIENT_PATH, "web": WEB_PATH}
#: Names this machine's loopback goes by, besides any 127.0.0.0/8 or ::1 address.
LOOPBACK_NAMES = ("localhost",)


class NotLoopback(ValueError):
    """The load generator was pointed at an address that is not this machine's loopback."""


class Outcome(str, Enum):
    ANSWERED = "answered"
    BUSY = "busy"
    ERROR = "error"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class RequestRecord:
    """What became of one scheduled request; seconds are from the start of the schedule."""

    index: int
    scheduled_s: float
    sent_s: float
    outcome: Outcome
    #: From the send to the reply; ``None`` when no reply came in time.
    latency_ms: float | None = None
    #: The error code or HTTP status of an error, busy or deadline reply.
    detail: str = ""

    @property
    def lateness_ms(self) -> float:
        return (self.sent_s - self.scheduled_s) * 1000.0


@dataclass(frozen=True)
class OpenLoopRun:
    records: list[RequestRecord]
    #: Replies whose id matched no waiting request (late replies to timed-out requests, or wrong ids).
    stray_replies: int = 0


@dataclass(frozen=True)
class OpenLoopResult:
    """One offered rate, summed up. Shares are of the requests sent."""

    offered_rate: float
    #: Requests the schedule drew, per second of its duration (a Poisson count varies around the rate).
    sent_rate: float
    sent: int
    answered: int
    busy: int
    errors: int
    timeouts: int
    #: Answered requests per second, over the schedule's duration or up to the last answer if later.
    goodput: float
    p50_ms: float | None
    p99_ms: float | None
    busy_share: float
    timeout_share: float
    error_share: float
    #: How long a busy reply took: "at once" means milliseconds.
    busy_p99_ms: float | None
    #: How late the generator sent, after the schedule's time.
    lateness_p50_ms: float
    lateness_p99_ms: float
    lateness_max_ms: float
    stray_replies: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


# The schedule ------------------------------------------------------------------------------------

def poisson_schedule(rate: float, duration_s: float, max_requests: int, seed: int = SEED) -> list[float]:
    """Send times (seconds from the start) of a Poisson process at ``rate`` per second: gaps drawn
    from an exponential distribution with mean ``1 / rate``, ending before ``duration_s`` or at
    ``max_requests`` times, whichever comes first. The same seed gives the same schedule."""
    if not rate > 0 or not duration_s > 0 or max_requests < 1:
        raise ValueError(f"a schedule needs a positive rate, duration and count, not "
                         f"rate={rate!r}, duration_s={duration_s!r}, max_requests={max_requests!r}")
    rng = np.random.default_rng(seed)
    times: list[float] = []
    now = 0.0
    while len(times) < max_requests:
        now += float(rng.exponential(1.0 / rate))
        if now >= duration_s:
            break
        times.append(now)
    return times


def most_in_flight(schedule: Sequence[float], timeout_s: float) -> int:
    """The most requests of ``schedule`` that can be waiting at once if each waits ``timeout_s``."""
    most, first = 0, 0
    for last, sent in enumerate(schedule):
        while schedule[first] <= sent - timeout_s:
            first += 1
        most = max(most, last - first + 1)
    return most


# Safety ------------------------------------------------------------------------------------------

def require_loopback(address: str) -> None:
    """Raise ``NotLoopback`` unless ``address`` (``tcp://…`` or ``http://…``) is this machine's
    loopback: the generator floods what it is pointed at, so it is never pointed elsewhere."""
    parts = urlsplit(address)
    host = parts.hostname or ""
    if parts.scheme not in ("tcp", "http"):
        raise NotLoopback(f"the open-loop generator sends over tcp:// (ZeroMQ) or http:// only, "
                          f"not {address!r}")
    if host in LOOPBACK_NAMES:
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise NotLoopback(f"the open-loop generator sends only to this machine's loopback "
                          f"(127.0.0.1, ::1 or localhost); refusing {address!r}")


# Through the ZeroMQ protocol ---------------------------------------------------------------------

def classify_reply(frame: bytes) -> tuple[Outcome, str]:
    """A model server's reply frame as an outcome and, for an error, its code."""
    try:
        decode_reply(frame)
    except ServerError as error:
        if error.code == ErrorCode.BUSY.value:
            return Outcome.BUSY, error.code
        if error.code == ErrorCode.DEADLINE_EXCEEDED.value:
            return Outcome.TIMEOUT, error.code
        return Outcome.ERROR, error.code
    except (RequestError, ValueError):
        return Outcome.ERROR, "malformed_reply"
    return Outcome.ANSWERED, ""


def run_zmq(
    address: str, images: Sequence[bytes], schedule: Sequence[float],
    timeout_s: float = REPLY_TIMEOUT_S, context: zmq.Context | None = None,
) -> OpenLoopRun:
    """Send ``images`` (in turn) to the model server at ``address`` at the ``schedule``'s times."""
    require_loopback(address)
    context = context or zmq.Context.instance()
    dealer = context.socket(zmq.DEALER)
    dealer.linger = 0
    dealer.connect(address)
    try:
        return _drive_dealer(dealer, images, schedule, timeout_s)
    finally:
        dealer.close(linger=0)


def _drive_dealer(
    dealer: zmq.Socket, images: Sequence[bytes], schedule: Sequence[float], timeout_s: float
) -> OpenLoopRun:
    run_id = uuid.uuid4().hex[:8]
    ids = [f"{run_id}-{index}" for index in range(len(schedule))]
    sent_at = [0.0] * len(schedule)
    records: list[RequestRecord | None] = [None] * len(schedule)
    waiting: dict[str, int] = {}  # id → index, in the order sent: the oldest times out first
    strays = 0
    next_index = 0
    start = time.perf_counter()
    while next_index < len(schedule) or waiting:
        now = time.perf_counter() - start
        while next_index < len(schedule) and schedule[next_index] <= now:
            index = next_index
            frames = encode_request_frames(images[index % len(images)], request_id=ids[index],
                                           deadline_ms=timeout_s * 1000.0)
            dealer.send_multipart([b"", *frames], copy=False)
            now = sent_at[index] = time.perf_counter() - start
            waiting[ids[index]] = index
            next_index += 1
        while waiting:
            request_id, index = next(iter(waiting.items()))
            if sent_at[index] + timeout_s > now:
                break
            del waiting[request_id]
            records[index] = RequestRecord(index, schedule[index], sent_at[index], Outcome.TIMEOUT)
        wake = min(schedule[next_index] if next_index < len(schedule) else math.inf,
                   sent_at[next(iter(waiting.values()))] + timeout_s if waiting else math.inf)
        if wake == math.inf:
            break
        if not dealer.poll(math.ceil(max(0.0, wake - now) * 1000.0), zmq.POLLIN):
            continue
        while True:
            try:
                reply = dealer.recv_multipart(zmq.NOBLOCK)[-1]
            except zmq.Again:
                break
            received = time.perf_counter() - start
            index = waiting.pop(request_id_of(reply) or "", None)
            if index is None:
                strays += 1
                continue
            outcome, detail = classify_reply(reply)
            records[index] = RequestRecord(index, schedule[index], sent_at[index], outcome,
                                           (received - sent_at[index]) * 1000.0, detail)
    return OpenLoopRun([record for record in records if record is not None], strays)


# Through the web app over HTTP -------------------------------------------------------------------

def http_pool(url: str, connections: int, timeout_s: float) -> urllib3.HTTPConnectionPool:
    """One pool of keep-alive connections to ``url``'s server, shared by every sender thread.

    It hands out the connection used last first, so open connections stay as many as requests in
    flight. (A session per sender thread kept an idle connection per thread; past waitress's
    connection limit, 100, new connections waited in its accept queue for seconds.)
    """
    parts = urlsplit(url)
    return urllib3.HTTPConnectionPool(parts.hostname, parts.port or 80, maxsize=connections,
                                      block=False, retries=False,
                                      timeout=urllib3.Timeout(total=timeout_s))


def post_image(pool: urllib3.HTTPConnectionPool, path: str, image: bytes) -> tuple[Outcome, str]:
    """POST one image as a multipart upload, as a browser (and the closed-loop benchmark) does."""
    try:
        response = pool.request("POST", path, fields={"file": ("photo.jpg", image, "image/jpeg")})
    except urllib3.exceptions.NewConnectionError as error:  # a subclass of the timeouts: first
        return Outcome.ERROR, type(error).__name__
    except urllib3.exceptions.TimeoutError:
        return Outcome.TIMEOUT, ""
    except urllib3.exceptions.HTTPError as error:
        return Outcome.ERROR, type(error).__name__
    if response.status == 503:
        return Outcome.BUSY, "503"
    if response.status == 200:
        try:
            if "predictions" in json.loads(response.data):
                return Outcome.ANSWERED, ""
        except ValueError:
            pass
    return Outcome.ERROR, str(response.status)


def run_http(
    url: str, images: Sequence[bytes], schedule: Sequence[float],
    timeout_s: float = REPLY_TIMEOUT_S, senders: int | None = None,
) -> OpenLoopRun:
    """POST ``images`` (in turn) to the web app's ``url`` at the ``schedule``'s times.

    ``senders`` threads send; by default as many as the schedule could ever have waiting at once
    (at most ``MAX_HTTP_SENDERS``). With too few, requests wait for a sender: their lateness shows it.
    """
    require_loopback(url)
    senders = senders or max(1, min(MAX_HTTP_SENDERS, most_in_flight(schedule, timeout_s)))
    pool = http_pool(url, senders, timeout_s)
    path = urlsplit(url).path or "/"
    jobs: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    records: list[RequestRecord | None] = [None] * len(schedule)
    start = 0.0

    def send() -> None:
        while (index := jobs.get()) is not None:
            sent = time.perf_counter() - start
            outcome, detail = post_image(pool, path, images[index % len(images)])
            latency = (time.perf_counter() - start - sent) * 1000.0
            records[index] = RequestRecord(index, schedule[index], sent, outcome,
                                           None if outcome is Outcome.TIMEOUT else latency, detail)

    threads = [threading.Thread(target=send, name=f"open-loop-sender-{n}", daemon=True)
               for n in range(senders)]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    for index, at in enumerate(schedule):
        delay = start + at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        jobs.put(index)
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join()
    pool.close()
    return OpenLoopRun([record for record in records if record is not None])


# Summing up --------------------------------------------------------------------------------------

def summarize(run: OpenLoopRun, offered_rate: float, duration_s: float) -> OpenLoopResult:
    records = run.records
    by_outcome = Counter(record.outcome for record in records)
    answered = [r for r in records if r.outcome is Outcome.ANSWERED]
    latencies = [r.latency_ms for r in answered]
    busy_latencies = [r.latency_ms for r in records if r.outcome is Outcome.BUSY]
    lateness = [r.lateness_ms for r in records] or [0.0]
    window = max([duration_s, *(r.sent_s + r.latency_ms / 1000.0 for r in answered)])
    sent = len(records)

    def share(outcome: Outcome) -> float:
        return round(by_outcome[outcome] / sent, 4) if sent else 0.0

    return OpenLoopResult(
        offered_rate=round(offered_rate, 2), sent_rate=round(sent / duration_s, 2), sent=sent,
        answered=by_outcome[Outcome.ANSWERED],
        busy=by_outcome[Outcome.BUSY], errors=by_outcome[Outcome.ERROR],
        timeouts=by_outcome[Outcome.TIMEOUT],
        goodput=round(len(answered) / window, 2),
        p50_ms=percentile(latencies, 50), p99_ms=percentile(latencies, 99),
        busy_share=share(Outcome.BUSY), timeout_share=share(Outcome.TIMEOUT),
        error_share=share(Outcome.ERROR), busy_p99_ms=percentile(busy_latencies, 99),
        lateness_p50_ms=percentile(lateness, 50), lateness_p99_ms=percentile(lateness, 99),
        lateness_max_ms=round(max(lateness), 2), stray_replies=run.stray_replies,
        error_kinds=dict(Counter(r.detail for r in records if r.outcome is Outcome.ERROR)),
    )


# The benchmark's section -------------------------------------------------------------------------

Sender = Callable[[Sequence[float]], OpenLoopRun]


def _client_call(address: str, timeout_s: float) -> Callable[[], Call]:
    client = ModelClient(address, timeout=timeout_s, retries=0)
    return lambda: client.predict


def _http_call(url: str, timeout_s: float) -> Callable[[], Call]:
    pool = http_pool(url, CAPACITY_CLIENTS, timeout_s)
    path = urlsplit(url).path or "/"

    def call(image: bytes) -> None:
        outcome, detail = post_image(pool, path, image)
        if outcome is not Outcome.ANSWERED:
            raise RuntimeError(f"{url} answered {outcome.value} {detail}")

    return lambda: call


class QueueWatch:
    """The deepest the model server's queue got (requests waiting and being answered), read from
    its ``stats`` every ``QUEUE_PROBE_INTERVAL_S`` in a thread of its own while a rate runs."""

    def __init__(self, address: str):
        self._client = ModelClient(address, timeout=1.0, retries=0)
        self._stop = threading.Event()
        self.peak = 0
        self._thread = threading.Thread(target=self._watch, name="open-loop-queue-watch", daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(QUEUE_PROBE_INTERVAL_S):
            try:
                self.peak = max(self.peak, self._client.stats().queue_depth)
            except ServerError:
                pass

    def __enter__(self) -> QueueWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._client.close()


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def references(make_call: Callable[[], Call], images: list[bytes], warmup: int = 1) -> tuple[LoadResult, LoadResult]:
    """The one-client latency and the capacity (closed loop, ``CAPACITY_CLIENTS`` clients), as the
    machine is right now: on a shared machine they drift within minutes, so every rate gets its own."""
    one_client = run_load(make_call, images, 1, ONE_CLIENT_REQUESTS, warmup=warmup)
    capacity = run_load(make_call, images, CAPACITY_CLIENTS, CAPACITY_REQUESTS, warmup=warmup)
    return one_client, capacity


def wait_until_idle(model_address: str, limit_s: float) -> None:
    """Until the model server holds no request (two reads in a row), at most ``limit_s``: what one
    rate left behind (requests whose clients gave up, still queued in the web server) must not
    meet the next rate's measurements."""
    deadline = time.monotonic() + limit_s
    quiet = 0
    with ModelClient(model_address, timeout=1.0, retries=0) as client:
        while quiet < 2 and time.monotonic() < deadline:
            time.sleep(QUEUE_PROBE_INTERVAL_S)
            try:
                quiet = quiet + 1 if client.stats().queue_depth == 0 else 0
            except ServerError:
                quiet = 0


def measure_path(
    name: str, make_call: Callable[[], Call], send: Sender, images: list[bytes],
    factors: Sequence[float], seconds: float, model_address: str, timeout_s: float,
    seed: int = SEED,
) -> dict:
    """One path: its one-client latency and capacity, which set the offered rates, then each rate,
    each right after a one-client latency and capacity of its own (``*_before``)."""
    one_client, capacity = references(make_call, images, warmup=2)
    _progress(f"  {name}: one client {one_client.median_ms} ms; capacity ({CAPACITY_CLIENTS} "
              f"clients, closed loop) {capacity.throughput} img/s")
    rates = []
    for step, factor in enumerate(factors):
        if step > 0:
            wait_until_idle(model_address, 2 * timeout_s)
            time.sleep(PAUSE_BETWEEN_RATES_S)
        one_before, capacity_before = (one_client, capacity) if step == 0 else references(make_call, images)
        rate = factor * capacity.throughput
        schedule = poisson_schedule(rate, seconds, MAX_REQUESTS_PER_RATE, seed + step)
        with QueueWatch(model_address) as queue_watch:
            result = summarize(send(schedule), rate, seconds)
        rates.append({"factor": factor, **result.as_dict(), "server_queue_peak": queue_watch.peak,
                      "capacity_before": capacity_before.throughput,
                      "one_client_before_ms": one_before.median_ms})
        _progress(f"    {factor:g}× = {result.offered_rate} req/s (capacity right before "
                  f"{capacity_before.throughput}/s, one client {one_before.median_ms} ms): goodput "
                  f"{result.goodput}/s, p50 {result.p50_ms} ms, p99 {result.p99_ms} ms, busy "
                  f"{result.busy_share:.0%}, timeouts {result.timeout_share:.0%}, errors {result.errors}, "
                  f"late p99 {result.lateness_p99_ms} ms, server queue peak {queue_watch.peak}")
    wait_until_idle(model_address, 2 * timeout_s)
    return {"one_client": one_client.as_dict(), "capacity": capacity.as_dict(), "rates": rates}


@contextlib.contextmanager
def _path(path: str, model_address: str, images: list[bytes], timeout_s: float
          ) -> Iterator[tuple[Callable[[], Call], Sender]]:
    """A path's closed-loop clients and its open-loop sender, with its web app running if it has one."""
    if path == CLIENT_PATH:
        yield (_client_call(model_address, timeout_s),
               lambda schedule: run_zmq(model_address, images, schedule, timeout_s))
        return
    with start_web_app(model_address, name="bench-open-loop-web", wsgi_server="waitress") as app:
        url = f"{app.address}/api/predict"
        yield _http_call(url, timeout_s), lambda schedule: run_http(url, images, schedule, timeout_s)


def measure(
    factors: Sequence[float] = RATE_FACTORS, seconds: float = SECONDS_PER_RATE,
    timeout_s: float = REPLY_TIMEOUT_S, runtime: str = TENSORFLOW, precision: str = F32,
    paths: Sequence[str] = PATHS, seed: int = SEED,
) -> dict:
    """The section: one model server, each path in ``paths`` measured in turn; JSON-ready."""
    settings = {"runtime": runtime, "precision": precision, "workers": WORKERS, "max_batch": MAX_BATCH,
                "seconds_per_rate": seconds, "timeout_s": timeout_s, "factors": list(factors),
                "max_requests_per_rate": MAX_REQUESTS_PER_RATE, "seed": seed,
                "capacity_clients": CAPACITY_CLIENTS, "image": "640x480 JPEG",
                "waitress_threads": WAITRESS_THREADS}
    out = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.processor() or platform.machine(),
           "settings": settings, "paths": {}}
    images = photo_jpegs()
    extra = ("--max-batch", str(MAX_BATCH), *runtime_args(runtime, precision))
    with start_model_server("random", workers=WORKERS, extra_args=extra, name="bench-open-loop-model") as model:
        with ModelClient(model.address, timeout=timeout_s, retries=0) as probe:
            settings["max_queue"] = probe.stats().max_queue
        for path in paths:
            with _path(path, model.address, images, timeout_s) as (make_call, send):
                out["paths"][path] = measure_path(path, make_call, send, images, factors, seconds,
                                                  model.address, timeout_s, seed)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sections.open_loop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser, prefix="")
    parser.add_argument("--quick", action="store_true", help="three rates, 3 s each: a smoke test")
    args = parser.parse_args(argv)
    print(json.dumps(measure(**section_options(args, prefix="")), indent=2))
    return 0


def add_arguments(parser: argparse.ArgumentParser, prefix: str = "open-loop-") -> None:
    """The section's flags; ``python -m benchmarks`` names them ``--open-loop-…``."""
    parser.add_argument(f"--{prefix}seconds", type=float, default=SECONDS_PER_RATE,
                        help="seconds of Poisson arrivals per offered rate"
                             + ("; 0 skips the open-loop section" if prefix else ""))
    parser.add_argument(f"--{prefix}timeout", type=float, default=REPLY_TIMEOUT_S,
                        help="seconds a request may wait for its reply")
    parser.add_argument(f"--{prefix}runtime", choices=RUNTIMES, default=TENSORFLOW)
    parser.add_argument(f"--{prefix}precision", choices=PRECISIONS, default=F32,
                        help=f"f32, or bf16 ({OPENVINO} on a CPU that has it)")
    parser.add_argument(f"--{prefix}paths", nargs="+", choices=list(PATH_FLAGS),
                        default=["client", "web"],
                        help=f"through the client, the web app (waitress, {WAITRESS_THREADS} threads) "
                             "(default: both)")


def section_options(args: argparse.Namespace, prefix: str = "open_loop_") -> dict:
    """``measure()``'s keywords from the flags of ``add_arguments``."""
    quick = getattr(args, "quick", False)
    seconds = getattr(args, f"{prefix}seconds")
    return {"factors": QUICK_RATE_FACTORS if quick else RATE_FACTORS,
            "seconds": min(seconds, QUICK_SECONDS_PER_RATE) if quick else seconds,
            "timeout_s": getattr(args, f"{prefix}timeout"),
            "runtime": getattr(args, f"{prefix}runtime"),
            "precision": getattr(args, f"{prefix}precision"),
            "paths": [PATH_FLAGS[flag] for flag in getattr(args, f"{prefix}paths")]}


if __name__ == "__main__":
    raise SystemExit(main())
