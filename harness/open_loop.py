"""Open-loop load: requests arrive on a Poisson schedule, whether or not earlier ones were answered.

A closed loop (``harness.load``) has N clients that each wait for their reply before sending again,
so a slow server slows its own load down and never sees more than N requests at once. A public
service sees the opposite: users do not wait for each other. Here requests are sent at times drawn
from a Poisson process (``poisson_schedule``: exponential gaps, from a seeded generator) at an
offered rate, bounded in time and in count, and each one ends as one of four outcomes: answered
(with predictions), answered ``busy`` (the server's queue is full; through the web app, 503),
another error, or no reply within the timeout. This is Triton's ``perf_analyzer
--request-rate-range`` with Poisson arrivals, and the MLPerf Inference *Server* scenario.

Two senders, one schedule:

- ``run_zmq``: one thread and one DEALER socket. Between two sends it polls for replies until the
  next send is due; replies are matched to requests by the ``"id"`` each one echoes, so they may
  come back in any order. Each request carries ``"deadline_ms"`` (the timeout), so the server stops
  working on what nobody waits for any more; a ``deadline_exceeded`` reply counts as a timeout, as
  ``ModelClient`` counts it.
- ``run_http``: the calling thread keeps the schedule and hands each request, at its time, to a pool
  of sender threads, sized so that it can hold every request of the schedule that could still be
  waiting for its reply. They share one urllib3 pool of keep-alive connections (``http_pool``),
  not ``harness.http``'s requests sessions: a session per sender thread keeps an idle connection
  per thread, and past waitress's connection limit (100) new connections waited seconds in its
  accept queue; one shared pool that hands out the connection used last keeps as many open as
  requests are in flight, and tells a timeout from a refused connection.

Either way each request's **lateness** (when it was sent minus when the schedule said) is kept, so
a generator that cannot keep up is visible and not mistaken for a slow server. Latency is counted
from the actual send; ``summarize`` sums a run up (goodput, percentiles, shares).

Safety: both senders refuse any address that is not this machine's loopback (``NotLoopback``),
and a run ends at most ``timeout_s`` after its last send.
"""

from __future__ import annotations

import ipaddress
import json
import math
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import urllib3
import zmq

from harness.stats import percentile
from model_server.protocol import (
    ErrorCode,
    RequestError,
    ServerError,
    decode_reply,
    encode_request_frames,
    request_id_of,
)

#: Sender threads of the HTTP path at most; fewer when the schedule cannot need as many.
MAX_HTTP_SENDERS = 512
SEED = 0
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
    #: How late the generator sent, after the schedule's time (``None`` when nothing was sent).
    lateness_p50_ms: float | None
    lateness_p99_ms: float | None
    lateness_max_ms: float | None
    stray_replies: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
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
    timeout_s: float, context: zmq.Context[zmq.Socket[bytes]] | None = None,
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
    dealer: zmq.Socket[bytes], images: Sequence[bytes], schedule: Sequence[float], timeout_s: float
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
            found = waiting.pop(request_id_of(reply) or "", None)
            if found is None:
                strays += 1
                continue
            outcome, detail = classify_reply(reply)
            records[found] = RequestRecord(found, schedule[found], sent_at[found], outcome,
                                           (received - sent_at[found]) * 1000.0, detail)
    return OpenLoopRun([record for record in records if record is not None], strays)


# Through the web app over HTTP -------------------------------------------------------------------

def http_pool(url: str, connections: int, timeout_s: float) -> urllib3.HTTPConnectionPool:
    """One pool of keep-alive connections to ``url``'s server, shared by every sender thread.

    It hands out the connection used last first, so open connections stay as many as requests in
    flight. (A session per sender thread kept an idle connection per thread; past waitress's
    connection limit, 100, new connections waited in its accept queue for seconds.)
    """
    parts = urlsplit(url)
    return urllib3.HTTPConnectionPool(parts.hostname or "", parts.port or 80, maxsize=connections,
                                      block=False, retries=False,
                                      timeout=urllib3.Timeout(total=timeout_s))


def upload_outcome(pool: urllib3.HTTPConnectionPool, path: str, image: bytes) -> tuple[Outcome, str]:
    """POST one image as a multipart upload, as a browser does, and say what became of it."""
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
    timeout_s: float, senders: int | None = None,
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
            outcome, detail = upload_outcome(pool, path, images[index % len(images)])
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
    latencies = [r.latency_ms for r in answered if r.latency_ms is not None]
    busy_latencies = [r.latency_ms for r in records if r.outcome is Outcome.BUSY and r.latency_ms is not None]
    lateness = [r.lateness_ms for r in records]
    window = max([duration_s, *(r.sent_s + r.latency_ms / 1000.0 for r in answered if r.latency_ms is not None)])
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
        lateness_max_ms=round(max(lateness), 2) if lateness else None, stray_replies=run.stray_replies,
        error_kinds=dict(Counter(r.detail for r in records if r.outcome is Outcome.ERROR)),
    )
