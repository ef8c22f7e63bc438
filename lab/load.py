"""Closed-loop load: N clients each send a request, wait for its reply, and send the next."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

#: A call that classifies one image and raises if it fails; one per client thread.
Call = Callable[[bytes], object]


class MeasurementFailed(RuntimeError):
    """A request failed while it was being timed: a timing that includes errors is a wrong
    number, not a slow one. The message says what was measured and what failed first."""


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

    def as_dict(self) -> dict:
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
    start = threading.Barrier(concurrency + 1)

    def client(index: int) -> None:
        nonlocal errors
        call = calls[index]
        start.wait()
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

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    return summarize(latencies, concurrency, per_client * concurrency, errors, seconds)


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


def summarize(
    latencies: list[float], concurrency: int, requests: int, errors: int, seconds: float
) -> LoadResult:
    values = np.array(latencies) if latencies else np.array([float("nan")])
    return LoadResult(
        concurrency=concurrency, requests=requests, errors=errors, seconds=round(seconds, 3),
        median_ms=round(float(statistics.median(values)), 2),
        p95_ms=round(float(np.percentile(values, 95)), 2),
        p99_ms=round(float(np.percentile(values, 99)), 2),
        throughput=round(len(latencies) / seconds, 2) if seconds > 0 else 0.0,
    )
