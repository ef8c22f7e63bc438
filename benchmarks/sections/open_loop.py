"""The open-loop section: how each path to the model answers when requests arrive on their own
schedule, from a quarter to twice its capacity.

``harness.open_loop`` sends the Poisson arrivals and counts what became of each request; this
section chooses the rates and measures what they are judged against. ``measure()``: one model
server, through the client and then through the web app (waitress). For each path the one-client
latency and the capacity (closed loop, 8 clients) set the offered rates, from a quarter to twice
that capacity; both are measured again right before every rate, and the report
(``benchmarks.report.open_loop``) judges the path against their medians: on a shared machine
they drift within minutes, more than the effects being judged (see "Open loop" in
``docs/benchmark.md``). While a rate runs, the model server's queue depth is read to report its peak.

``python -m benchmarks --only "open loop"`` runs it and stores it under ``open_loop``;
``python -m benchmarks.sections.open_loop`` runs it alone and prints JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from benchmarks.systems.launch import model_server, runtime_args
from benchmarks.systems.servers import OURS_SETTINGS
from harness.launch import WAITRESS_THREADS, start_web_app
from harness.load import Call, LoadResult, run_load
from harness.open_loop import (
    SEED,
    OpenLoopRun,
    Outcome,
    http_pool,
    poisson_schedule,
    run_http,
    run_zmq,
    summarize,
    upload_outcome,
)
from harness.peaks import PeakWatch
from harness.sample_images import photo_jpegs
from model_server.client import ModelClient
from model_server.protocol import F32, OPENVINO, PRECISIONS, RUNTIMES, TENSORFLOW, ServerError

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
#: Closed-loop measurements made right before the offered rates.
CAPACITY_CLIENTS = 8
CAPACITY_REQUESTS = 48
ONE_CLIENT_REQUESTS = 10
#: Seconds of quiet between two offered rates, once the model server holds no request.
PAUSE_BETWEEN_RATES_S = 0.5
#: How often the model server's queue depth is read (``stats``, answered by its broker) during a rate.
QUEUE_PROBE_INTERVAL_S = 0.2
#: The paths measured by default; their names are the keys of the results.
CLIENT_PATH = "client"
WEB_PATH = "web app (waitress)"
PATHS = (CLIENT_PATH, WEB_PATH)
PATH_FLAGS = {"client": CLIENT_PATH, "web": WEB_PATH}

Sender = Callable[[Sequence[float]], OpenLoopRun]


def _client_call(address: str, timeout_s: float) -> Callable[[], Call]:
    client = ModelClient(address, timeout=timeout_s, retries=0)
    return lambda: client.predict


def _http_call(url: str, timeout_s: float) -> Callable[[], Call]:
    pool = http_pool(url, CAPACITY_CLIENTS, timeout_s)
    path = urlsplit(url).path or "/"

    def call(image: bytes) -> None:
        outcome, detail = upload_outcome(pool, path, image)
        if outcome is not Outcome.ANSWERED:
            raise RuntimeError(f"{url} answered {outcome.value} {detail}")

    return lambda: call


@contextlib.contextmanager
def queue_watch(address: str) -> Iterator[PeakWatch]:
    """The deepest the model server's queue got (requests waiting and being answered), read from
    its ``stats`` every ``QUEUE_PROBE_INTERVAL_S`` while a rate runs: ``.peaks[0]``."""
    with ModelClient(address, timeout=1.0, retries=0) as client:
        def depth() -> tuple[int]:
            return (client.stats().queue_depth,)

        with PeakWatch(depth, QUEUE_PROBE_INTERVAL_S, "open-loop-queue-watch", skip=(ServerError,),
                       first=(0,)) as watch:
            yield watch


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
        with queue_watch(model_address) as queue:
            result = summarize(send(schedule), rate, seconds)
        rates.append({"factor": factor, **result.as_dict(), "server_queue_peak": queue.peaks[0],
                      "capacity_before": capacity_before.throughput,
                      "one_client_before_ms": one_before.median_ms})
        _progress(f"    {factor:g}× = {result.offered_rate} req/s (capacity right before "
                  f"{capacity_before.throughput}/s, one client {one_before.median_ms} ms): goodput "
                  f"{result.goodput}/s, p50 {result.p50_ms} ms, p99 {result.p99_ms} ms, busy "
                  f"{result.busy_share:.0%}, timeouts {result.timeout_share:.0%}, errors {result.errors}, "
                  f"late p99 {result.lateness_p99_ms} ms, server queue peak {queue.peaks[0]}")
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
    settings: dict[str, Any] = {
        "runtime": runtime, "precision": precision, **OURS_SETTINGS, "seconds_per_rate": seconds,
        "timeout_s": timeout_s, "factors": list(factors), "max_requests_per_rate": MAX_REQUESTS_PER_RATE,
        "seed": seed, "capacity_clients": CAPACITY_CLIENTS, "image": "640x480 JPEG",
        "waitress_threads": WAITRESS_THREADS}
    out: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M"),
                           "machine": platform.processor() or platform.machine(),
                           "settings": settings, "paths": {}}
    images = photo_jpegs()
    with model_server(OURS_SETTINGS["workers"], OURS_SETTINGS["max_batch"], runtime_args(runtime, precision),
                      name="bench-open-loop-model") as model:
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
