"""Notebook 08 exercise: a closed-loop load generator of your own."""

from __future__ import annotations

import threading
import time

from harness.load import LoadRun, Send


def closed_loop(send: Send, clients: int, requests: int) -> LoadRun:
    """``clients`` threads share requests ``0 … requests - 1``; each sends its next one as soon as
    its answer arrives. Returns each request's seconds and the wall time; re-raises a failed send."""
    latencies: list[float] = [0.0] * requests
    errors: list[BaseException] = []

    def timed(number: int) -> None:
        began = time.perf_counter()
        send(number)
        latencies[number] = time.perf_counter() - began

    def client(first: int) -> None:
        try:
            for number in range(first, requests, clients):
                if errors:
                    return  # another client failed: the run is over
                timed(number)
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=client, args=(first,)) for first in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall_s = time.perf_counter() - started
    if errors:
        raise errors[0]
    return LoadRun(tuple(latencies), wall_s)
