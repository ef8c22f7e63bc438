"""``python -m benchmarks.sections.footprint``: what the deployment manifests are sized from.

Seconds from starting each process to ready, and its resident memory (RSS, psutil) when ready and
after a burst of full batches, for the three processes the manifests run (a pure broker,
``--workers 0``; a remote worker; the web app under waitress), and for a model server with its own
worker threads. Untrained weights, so no
download; loading them reads a file of the ImageNet file's size (see ``model_server.models.weights``).
Prints one JSON object; the CPU kind is in it, since TensorFlow's memory and speed depend on it.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

from benchmarks.rounds.usage import memory_mib
from benchmarks.systems.launch import succeeded
from harness.http import post_image
from harness.launch import start_broker, start_model_server, start_remote_worker, start_web_app
from harness.processes import ServerProcess
from harness.sample_images import photo
from model_server.client import ModelClient

#: Requests sent at once, and how many times, to fill the default batches (``--max-batch 8``).
BURST = 8
BURSTS = 3
CPU_FLAGS = ("avx512f", "avx512_bf16", "amx_bf16")


def rss_mib(process: ServerProcess) -> float:
    """The resident memory of a running server and its children (a supervised worker's child)."""
    assert process.pid is not None, f"{process.name} is not running"
    return memory_mib(process.pid)


def send_bursts(address: str) -> None:
    """Full batches through the model server (a ZeroMQ address) or the web app (a URL)."""
    image = photo()
    if address.startswith("http"):
        def upload(_: int) -> None:
            succeeded(post_image(f"{address}/api/predict", image, 60, content_type="image/jpeg", raw=True))

        with ThreadPoolExecutor(BURST) as pool:
            for _ in range(BURSTS):
                list(pool.map(upload, range(BURST)))
        return
    with ThreadPoolExecutor(BURST) as pool:
        clients = [ModelClient(address, timeout=60) for _ in range(BURST)]
        try:
            for _ in range(BURSTS):
                list(pool.map(lambda client: client.predict(image), clients))
        finally:
            for client in clients:
                client.close()


def cpu_kind() -> dict[str, object]:
    flags = set()
    model = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                flags |= set(line.split(":", 1)[1].split())
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
    return {"model": model, "cores": psutil.cpu_count(), "flags": sorted(flags & set(CPU_FLAGS))}


def when_ready(process: ServerProcess) -> dict[str, float]:
    """Seconds from start to ready, and the memory of a server just started."""
    assert process.ready_seconds is not None, f"{process.name} is not ready"
    return {"start_to_ready_s": round(process.ready_seconds, 1), "rss_ready_mib": rss_mib(process)}


def measure(weights: str = "random") -> dict[str, Any]:
    results: dict[str, Any] = {"cpu": cpu_kind(), "weights": weights, "burst": f"{BURSTS}x{BURST}"}
    with start_model_server(weights, name="footprint-server") as server:
        results["model_server"] = when_ready(server)
        send_bursts(server.address)
        results["model_server"]["rss_after_batches_mib"] = rss_mib(server)
        with start_web_app(server.address, wsgi_server="waitress", name="footprint-web") as web:
            results["web"] = when_ready(web)
            send_bursts(web.address)
            results["web"]["rss_after_batches_mib"] = rss_mib(web)
    with start_broker(name="footprint-broker") as broker:
        results["broker"] = when_ready(broker)
        with start_remote_worker(broker, weights, workers=8, name="footprint-worker") as worker:
            results["worker"] = when_ready(worker)
            send_bursts(broker.address)
            results["worker"]["rss_after_batches_mib"] = rss_mib(worker)
        results["broker"]["rss_after_batches_mib"] = rss_mib(broker)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sections.footprint", description=__doc__)
    parser.add_argument("--weights", default="random")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    for _ in range(args.runs):
        started = time.perf_counter()
        result = measure(args.weights)
        result["measured_in_s"] = round(time.perf_counter() - started, 1)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
