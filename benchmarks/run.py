"""One run of ``python -m benchmarks``: the chosen systems in interleaved rounds on servers started
once, then the sections, all into one ``results.json`` (``__main__`` reads the flags)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import time
from typing import Any

from benchmarks.report.files import summarize, write_report, write_sections
from benchmarks.rounds.entries import BARE_BATCHED, BARE_LATENCY, PER_CLIENT, interleaved_rounds
from benchmarks.sections import broker_header, image_sizes, open_loop, overhead
from benchmarks.sections.start_to_ready import start_to_ready
from benchmarks.systems.catalogue import (
    ORIGINAL_DESIGN,
    PIXEL_LEVELS,
    compared_systems,
    openvino_precisions,
)
from benchmarks.systems.launch import predict_url
from benchmarks.systems.servers import ONE_WORKER_SETTINGS, OURS_SETTINGS, Servers
from harness.sample_images import photo_jpegs
from model_server.images import decode_image
from model_server.protocol import F32, OPENVINO, TENSORFLOW

CONCURRENCY = (1, 4, 8, 16)
ROUNDS = 5
#: Requests per burst; at many clients at least ``PER_CLIENT`` each.
REQUESTS = 32
#: Sections, for ``--only``.
OPEN_LOOP = "open loop"
IMAGE_SIZES = "image sizes"
OVERHEAD = "overhead"
BROKER = "broker"


def wanted(name: str, only: list[str] | None) -> bool:
    """Whether ``--only``'s words (none: everything) pick the system or section ``name``."""
    return not only or any(word in name for word in only)


def run(args: argparse.Namespace) -> None:
    """Measure what the flags choose and write the report into ``args.out``."""
    rounds, requests = (1, 8) if args.quick else (args.rounds, args.requests)
    levels = PIXEL_LEVELS if args.quick else CONCURRENCY
    images = photo_jpegs()
    decoded = {image: decode_image(image) for image in images}
    precisions = openvino_precisions()
    chosen = [system for system in compared_systems(levels, decoded, precisions) if wanted(system.name, args.only)]
    path = args.out / "results.json"
    results: dict[str, Any]
    if chosen:
        results = {
            "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                        "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M")},
            "settings": {"ours": OURS_SETTINGS, "original": ORIGINAL_DESIGN, "one_worker": ONE_WORKER_SETTINGS,
                         "rounds": rounds,
                         "requests": requests, "per_client": PER_CLIENT, "bare_latency": BARE_LATENCY,
                         "bare_batched": BARE_BATCHED, "image": "640x480 JPEG"},
        }
    else:  # sections alone: what an earlier run left in --out is kept, these sections replaced
        results = json.loads(path.read_text()) if path.exists() else {}
    with contextlib.ExitStack() as stack:
        servers = Servers(stack)
        if chosen:
            results.update(interleaved_rounds(chosen, servers, images, rounds, requests))
        if args.overhead_rounds and not args.quick and wanted(OVERHEAD, args.only):
            print("one request at a time, in pairs with the bare model …", flush=True)
            results["overhead"] = overhead.summarize(overhead.measure_rounds(
                servers.bare(), servers.client(), predict_url(servers.web("waitress")), images,
                args.overhead_rounds))
        if args.image_size_rounds and wanted(IMAGE_SIZES, args.only):
            results["image_sizes"] = measure_image_sizes(
                servers, precisions, 1 if args.quick else args.image_size_rounds,
                requests if args.quick else image_sizes.REQUESTS)
    if not args.quick and wanted(BROKER, args.only):
        print("the broker with big requests in the original's format …", flush=True)
        results["broker"] = broker_header.measure()
    if args.open_loop_seconds > 0 and wanted(OPEN_LOOP, args.only):
        print("open loop: Poisson arrivals from a quarter to twice the capacity …", flush=True)
        results["open_loop"] = open_loop.measure(**open_loop.section_options(args))
    for precision in dict.fromkeys(s.precision for s in chosen if s.runtime == OPENVINO):
        print(f"start to ready, TensorFlow and OpenVINO {precision} …", flush=True)
        results.setdefault("start_to_ready", {}).update(start_to_ready(precision))
    args.out.mkdir(parents=True, exist_ok=True)
    if "bare" in results or "rounds" in results:
        write_report(summarize(results), args.out)
    else:  # nothing but standalone sections measured here yet: their own report only
        write_sections(results, args.out)


def measure_image_sizes(servers: Servers, precisions: list[str], rounds: int, requests: int) -> dict[str, Any]:
    """The image sizes on TensorFlow and on the fastest OpenVINO precision, on the run's servers."""
    out = {}
    for runtime, precision in [(TENSORFLOW, F32), *([(OPENVINO, precisions[-1])] if precisions else [])]:
        print(f"image sizes on {runtime} {precision} …", flush=True)
        server, images = servers.model(runtime, precision), image_sizes.workload()
        web = servers.web("waitress", runtime, precision)
        assert server.pid is not None and web.pid is not None, "the run's servers are running"
        bursts = image_sizes.measure(server.address, server.pid, images, rounds, requests=requests,
                                     progress=lambda line: print(" ", line, flush=True),
                                     web=(predict_url(web), web.pid))
        out[f"{runtime} {precision}"] = {
            "rounds_run": rounds, "file_bytes": {name: [len(f) for f in files] for name, files in images.items()},
            "rounds": [vars(burst) for burst in bursts], "summary": image_sizes.summary(bursts)}
    return out
