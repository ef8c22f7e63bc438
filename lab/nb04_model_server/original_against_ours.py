"""Notebook 04's measurements: the same clients and images against the original's design and ours.

The load is the benchmark's own closed loop (``harness.load``: N client threads, each sending a request
and waiting for its reply before the next). ``measure_with_test_client`` makes each call through
the learner's test client, so both servers are measured with the same code; ``thread_cost``
makes each call through the original's own client (``harness.original_client``) and watches the
server process meanwhile: its threads and its memory. A failed request fails the measurement: a
timing that includes errors is a wrong number, not a slow one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from types import ModuleType

import psutil
import zmq

from harness import original_client
from harness.load import measured_load
from harness.peaks import PeakWatch
from harness.stats import percentile
from lab import settings

#: Clients sending at once in the notebook's comparison.
CONCURRENCY = (1, 8)
WARMUP = 1


def measure_with_test_client(
    server: str, address: str, test_client: ModuleType, images: Sequence[bytes],
    levels: Sequence[int] = CONCURRENCY, requests: int | None = None, timeout_s: float | None = None,
) -> list[dict[str, object]]:
    """One table row per number of clients: throughput and latency of ``server`` at ``address``.

    ``requests`` per level defaults to ``LAB_SERVER_REQUESTS``; each request gets one attempt
    (no retries: a retry would hide a failure inside a long latency).
    """
    lab = settings.load()
    requests = requests or lab.server_requests
    timeout_s = timeout_s or lab.request_timeout_s

    def make_call():
        def call(image: bytes) -> object:
            frame = test_client.request_with_retries(address, test_client.encode_request(image), timeout_s, 0)
            return test_client.read_reply(frame)
        return call

    rows = []
    for clients in levels:
        result = measured_load(make_call, list(images), clients, max(requests, clients),
                               f"{server}, {clients} clients", warmup=WARMUP)
        rows.append({"server": server, "clients": clients, "requests": result.requests,
                     "images per second": result.throughput, "median (ms)": result.median_ms,
                     "p95 (ms)": result.p95_ms})
    return rows


def with_deadline(request: bytes, milliseconds: float) -> bytes:
    """The same request, saying its client waits only ``milliseconds`` (production's ``deadline_ms``)."""
    return json.dumps({**json.loads(request), "deadline_ms": milliseconds}).encode()


def mean_batch(batch_sizes: dict[int, int]) -> float:
    """Images per forward pass, averaged over the images: ``{1: 2, 8: 1}`` → (1·2 + 8·8) / 10."""
    images = sum(size * count for size, count in batch_sizes.items())
    return sum(size * size * count for size, count in batch_sizes.items()) / images if images else 0.0


def batches_between(before: dict[int, int], after: dict[int, int]) -> dict[int, int]:
    """The forward passes, by size, that a server's cumulative stats counted between two readings."""
    return {size: after[size] - before.get(size, 0) for size in after if after[size] > before.get(size, 0)}


#: The burst of notebook 04's "what the production server adds": more requests than either
#: server's workers can hold, all sent at once, each saying its client waits this long.
BURST_CLIENTS = 24
BURST_DEADLINE_MS = 600.0


def burst_with_deadline(
    address: str, request: bytes, clients: int = BURST_CLIENTS, deadline_ms: float = BURST_DEADLINE_MS,
    timeout_s: float | None = None,
) -> dict[str, object]:
    """Send ``clients`` copies of ``request`` at once, each with ``deadline_ms``; sort the replies.

    Each copy goes out on its own REQ socket (as from its own client) and every reply is read
    with a timeout. A reply is *in time* if it brings predictions within the deadline, *too late*
    if it brings them after (the work was done for a client that had stopped waiting), and
    otherwise counted by its error code, with how quickly the error came.
    """
    timeout_s = timeout_s or settings.load().request_timeout_s
    late_request = with_deadline(request, deadline_ms)
    context = zmq.Context.instance()
    sockets = []
    try:
        for _ in range(clients):
            socket = context.socket(zmq.REQ)
            socket.linger = 0
            socket.connect(address)
            sockets.append(socket)
        poller = zmq.Poller()
        sent = {}
        for socket in sockets:
            poller.register(socket, zmq.POLLIN)
        for socket in sockets:
            socket.send(late_request)
            sent[socket] = time.perf_counter()
        outcomes: dict[str, list[float]] = {}
        give_up = time.perf_counter() + timeout_s
        while sent and time.perf_counter() < give_up:
            for socket, _ in poller.poll(max(1, int((give_up - time.perf_counter()) * 1000))):
                elapsed_ms = (time.perf_counter() - sent.pop(socket)) * 1000
                poller.unregister(socket)
                reply = json.loads(socket.recv())
                if "error" in reply:
                    kind = f"error: {reply['error'].get('code')}"
                else:
                    kind = "in time" if elapsed_ms <= deadline_ms else "too late"
                outcomes.setdefault(kind, []).append(elapsed_ms)
        if sent:
            outcomes["no reply"] = [timeout_s * 1000] * len(sent)
    finally:
        for socket in sockets:
            socket.close(linger=0)
    return {kind: {"requests": len(times), "slowest (ms)": round(max(times))}
            for kind, times in sorted(outcomes.items())}


#: Clients sending at once in notebook 04's "what a thread per request costs".
THREAD_COST_LEVELS = (8, 16)
#: Seconds between two looks at the server process's threads and memory during a load.
SAMPLE_INTERVAL_S = 0.02


def _threads_and_rss(process: psutil.Process) -> tuple[int, int]:
    """The threads and resident memory (bytes) of a process and its children."""
    family = [process, *process.children(recursive=True)]
    return sum(p.num_threads() for p in family), sum(p.memory_info().rss for p in family)


def thread_cost(
    server: str, address: str, pid: int, images: Sequence[bytes], levels: Sequence[int] = THREAD_COST_LEVELS,
    requests: int | None = None, timeout_s: float | None = None,
) -> list[dict[str, object]]:
    """One row per number of clients: the original's client against the server at ``address``
    (process ``pid``), with latency, throughput, and the threads and memory the server held.

    Each client is ``original_client.predict`` waiting at most ``timeout_s`` (the original would
    wait forever). ``requests`` per level defaults to ``LAB_SERVER_REQUESTS``, and is at least two
    per client. The threads and memory (RSS) are sampled every ``SAMPLE_INTERVAL_S`` while the
    clients send: *idle* before the first request of that level, *peak* the most seen.
    """
    lab = settings.load()
    requests = requests or lab.server_requests
    timeout_s = timeout_s or lab.request_timeout_s
    original_client.predict(images[0], address, max_wait_s=timeout_s)  # the first pass, untimed
    process = psutil.Process(pid)
    rows = []
    for clients in levels:
        latencies_ms: list[float] = []

        def make_call(latencies_ms: list[float] = latencies_ms) -> Callable[[bytes], str]:
            def call(image: bytes) -> str:
                began = time.perf_counter()
                preds = original_client.predict(image, address, max_wait_s=timeout_s)
                latencies_ms.append((time.perf_counter() - began) * 1000)
                return preds
            return call

        with PeakWatch(lambda: _threads_and_rss(process), SAMPLE_INTERVAL_S, "watch") as watch:
            result = measured_load(make_call, list(images), clients, max(requests, 2 * clients),
                                   f"{server}, {clients} clients", warmup=0)
        rows.append({
            "server": server, "clients": clients, "requests": result.requests,
            "median (ms)": result.median_ms, "p90 (ms)": percentile(latencies_ms, 90, digits=1),
            "images per second": result.throughput,
            "threads idle": watch.first[0], "threads at peak": watch.peaks[0],
            "RSS idle (MB)": round(watch.first[1] / 2**20), "RSS at peak (MB)": round(watch.peaks[1] / 2**20),
        })
    return rows
