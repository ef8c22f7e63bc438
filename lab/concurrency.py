"""Several clients at once against one model server: throughput and latency (notebook 07).

Each client is a thread with its own ``ModelClient`` (its own sockets), started together behind a
barrier, sending its requests one after another. ``ModelClient`` checks that every reply carries
its request's id, so a reply routed to the wrong client would fail the run, not skew it.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from model_server.client import ModelClient
from model_server.protocol import ServerError

#: How many clients send at once, in the notebook's runs.
CLIENT_COUNTS = (1, 2, 4)
#: How many workers the model server gets, in the notebook's runs.
WORKER_COUNTS = (1, 2)
REQUESTS_PER_CLIENT = 6


class LoadFailed(RuntimeError):
    """A request failed during a load run; the message says which client and why."""


@dataclass(frozen=True)
class LoadRun:
    workers: int
    clients: int
    #: Seconds from the start of the first request to the end of the last.
    seconds: float
    #: Seconds of each request, from every client.
    latencies: tuple[float, ...]

    @property
    def throughput(self) -> float:
        """Requests answered per second, by all clients together."""
        return len(self.latencies) / self.seconds

    @property
    def median_latency(self) -> float:
        return statistics.median(self.latencies)

    def as_row(self) -> dict[str, float]:
        return {
            "workers": self.workers,
            "clients": self.clients,
            "requests": len(self.latencies),
            "requests per second": round(self.throughput, 2),
            "median latency (ms)": round(self.median_latency * 1000),
        }


def run_clients(
    address: str, images: Sequence[Path], workers: int, clients: int,
    requests_per_client: int = REQUESTS_PER_CLIENT, timeout: float = 30.0,
) -> LoadRun:
    """``clients`` threads each send ``requests_per_client`` images at once; ``workers`` is a label."""
    payloads = [path.read_bytes() for path in images]
    barrier = threading.Barrier(clients + 1)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures: list[str] = []

    def client_thread(index: int) -> None:
        with ModelClient(address, timeout=timeout) as client:
            barrier.wait()
            for number in range(requests_per_client):
                image = payloads[(index + number) % len(payloads)]
                started = time.perf_counter()
                try:
                    client.predict(image)
                except ServerError as error:
                    failures.append(f"client {index}, request {number}: {error}")
                    return
                latencies[index].append(time.perf_counter() - started)

    threads = [threading.Thread(target=client_thread, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if failures:
        raise LoadFailed("; ".join(failures))
    return LoadRun(workers, clients, seconds, tuple(s for per_client in latencies for s in per_client))
