"""Closed-loop load: N clients each send a request, wait for its reply, and send the next.

``run_load`` is the benchmark's generator. Notebook 08's learner writes one of their own
(``exercises/nb08_load.py``: ``closed_loop(send, clients, requests)``), which returns a
``LoadRun``; ``sleeping_send`` is the slow call they try it on before it meets a model server.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from harness.stats import MeasurementFailed, percentile

#: A call that classifies one image and raises if it fails; one per client thread.
Call = Callable[[bytes], object]
#: ``send(k)`` sends request number ``k`` and returns once its answer has arrived (raises if it failed).
Send = Callable[[int], object]


@dataclass(frozen=True)
class LoadRun:
    """What a closed-loop generator measured: request ``k``'s seconds at ``latencies_s[k]``, and
    the wall time from the first request sent to the last answer received."""

    latencies_s: Sequence[float]
    wall_s: float

    @property
    def requests(self) -> int:
        return len(self.latencies_s)

    @property
    def throughput(self) -> float:
        """Requests answered per second of wall time."""
        return self.requests / self.wall_s

    @property
    def mean_latency_s(self) -> float:
        return statistics.fmean(self.latencies_s)


#: The generator's signature (``exercises/nb08_load.py``).
ClosedLoop = Callable[[Send, int, int], LoadRun]


def sleeping_send(seconds: float) -> Send:
    """A stand-in for a server that answers every request in ``seconds`` and can answer any
    number of them at once: what a closed loop does, with no model in the way."""

    def send(number: int) -> int:
        time.sleep(seconds)
        return number

    return send



@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    requests: int
    errors: int
    seconds: float
    median_ms: float
    p95_ms: float
    p99_ms: float
    throughput: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def run_load(
    make_call: Callable[[], Call], images: list[bytes], concurrency: int, requests: int,
    warmup: int = 2,
) -> LoadResult:
    """Send ``requests`` images from ``concurrency`` clients; ``make_call`` builds one client."""
    calls = [make_call() for _ in range(concurrency)]
    for call in calls:
        for index in range(warmup):
            call(images[index % len(images)])
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    per_client = max(1, requests // concurrency)

    def client(index: int) -> None:
        nonlocal errors
        call = calls[index]
        for sent in range(per_client):
            image = images[(index + sent) % len(images)]
            began = time.perf_counter()
            try:
                call(image)
            except Exception:
                with lock:
                    errors += 1
                continue
            elapsed = (time.perf_counter() - began) * 1000.0
            with lock:
                latencies.append(elapsed)

    seconds = at_once(concurrency, client)
    return summarize(latencies, concurrency, per_client * concurrency, errors, seconds)


def at_once(count: int, work: Callable[[int], object], join_timeout_s: float | None = None) -> float:
    """``work(0)`` … ``work(count - 1)``, each in a thread of its own, all let go at the same moment
    (none gets a head start while the others are still being started); the seconds from then
    until the last one returned, each waited for ``join_timeout_s`` at most."""
    go = threading.Barrier(count + 1)

    def run(index: int) -> None:
        go.wait()
        work(index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    go.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join(join_timeout_s)
    return time.perf_counter() - began


def measured_load(
    make_call: Callable[[], Call], images: list[bytes], concurrency: int, requests: int,
    what: str, warmup: int = 2,
) -> LoadResult:
    """``run_load`` for a measurement: any failed request raises ``MeasurementFailed``.

    ``run_load`` counts a failed call and carries on; here the first failure is kept, to say what
    it was, and ``what`` names the measurement in the message.
    """
    failures: list[BaseException] = []

    def make_recording_call() -> Call:
        call = make_call()

        def recording(image: bytes) -> object:
            try:
                return call(image)
            except Exception as error:
                failures.append(error)
                raise
        return recording

    try:
        result = run_load(make_recording_call, images, concurrency, requests, warmup=warmup)
    except Exception as error:
        raise MeasurementFailed(f"{what}: a warm-up request failed: {error}") from error
    if result.errors:
        raise MeasurementFailed(f"{what}: {result.errors} of {result.requests} requests failed; "
                                f"the first: {failures[0]}")
    return result


def _or(value: float | None, instead: float) -> float:
    return instead if value is None else value


def summarize(
    latencies: list[float], concurrency: int, requests: int, errors: int, seconds: float
) -> LoadResult:
    nothing = float("nan")  # a run in which every request failed
    return LoadResult(
        concurrency=concurrency, requests=requests, errors=errors, seconds=round(seconds, 3),
        median_ms=_or(percentile(latencies, 50), nothing),
        p95_ms=_or(percentile(latencies, 95), nothing),
        p99_ms=_or(percentile(latencies, 99), nothing),
        throughput=round(len(latencies) / seconds, 2) if seconds > 0 else 0.0,
    )
