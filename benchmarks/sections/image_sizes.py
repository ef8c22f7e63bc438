"""What an upload's size costs the model server: real photo sizes, measured in interleaved rounds.

Uploads are not 640×480. The model costs the same for every image (it sees 224×224), but decoding
grows with the file, and it runs on the model machine. So for each size the same server is sent
a burst of requests, in rotating order, round after round (a machine that slows down for a minute
slows every size alike), and the server process's CPU time is read around each burst with psutil:
CPU milliseconds per request say how many requests one core of the model machine can serve
(cores ÷ CPU-seconds per request), which end-to-end throughput on a shared 2-core machine cannot.

Each size is sent in three forms: the file, which the server decodes; the decoded pixels, as the
web app sends them after decoding the upload for its preview (``MODEL_SERVER_SEND_PIXELS``), with
the client thread's own CPU time for decoding (``time.thread_time``) as what the web tier spends
instead; and the file posted to the real web app in front of the same server, with the web app
process's whole CPU time per request (HTTP, the form, decoding, sending the pixels).

``python -m benchmarks.sections.image_sizes`` starts a model server (``--weights random``) and the web app
(waitress), measures, and prints a table; ``--out`` also writes the rounds as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from benchmarks.report.markdown import markdown
from benchmarks.rounds.turns import in_turn
from benchmarks.rounds.usage import cpu_seconds
from benchmarks.systems.launch import MakeCall, http_calls, runtime_args
from harness.launch import start_model_server, start_web_app
from harness.load import Call, measured_load
from harness.sample_images import PHONE_PHOTO_SIZE, photos
from harness.stats import spread
from model_server.client import ModelClient
from model_server.images import decode_image
from model_server.protocol import F32, PRECISIONS, RUNTIMES, TENSORFLOW

#: Name → (width, height) and format: a small photo, a 1080p photo, a phone camera's 12 MP photo
#: and a 1080p screenshot saved as PNG.
SIZES: dict[str, tuple[tuple[int, int], str]] = {
    "640×480 JPEG": ((640, 480), "JPEG"),
    "1920×1080 JPEG": ((1920, 1080), "JPEG"),
    "4032×3024 JPEG": (PHONE_PHOTO_SIZE, "JPEG"),
    "1920×1080 PNG": ((1920, 1080), "PNG"),
}
#: The forms of request: the file (the server decodes it), the pixels (the client decoded it), and
#: the file posted to the real web app (which decodes it and sends the pixels), when there is one.
FILE = "file"
PIXELS = "pixels"
WEB = "file to the web app"
FORMS = (FILE, PIXELS)
#: Distinct images per size (each client cycles through them).
IMAGES_PER_SIZE = 2
CLIENTS = (1, 8)
ROUNDS = 3
#: Requests per burst, at each number of clients.
REQUESTS = 16
WARMUP = 1
TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Burst:
    """One burst of one size at one number of clients, in one round."""

    round: int
    size: str
    form: str
    clients: int
    requests: int
    throughput: float
    median_ms: float
    p99_ms: float
    #: The server process's CPU time (user + system, all its threads) per request sent, warm-ups
    #: included. The kernel counts it in ticks of 10 ms, so a burst should cost many ticks.
    server_cpu_ms: float
    #: The client's CPU time decoding one image (median), the web tier's share: 0 for the file form.
    client_decode_ms: float
    #: The web app process's CPU time per request (all of it: HTTP, the form, decoding, sending):
    #: 0 but for the web app's form.
    web_cpu_ms: float = 0.0


def workload(sizes: dict[str, tuple[tuple[int, int], str]] = SIZES,
             per_size: int = IMAGES_PER_SIZE) -> dict[str, list[bytes]]:
    """The files of each size, generated (no download); the same every run."""
    return {name: photos(per_size, size, image_format) for name, (size, image_format) in sizes.items()}


def _call_maker(form: str, client: ModelClient, web: tuple[str, int] | None, timeout_s: float,
                decodes: list[float]) -> MakeCall:
    """Calls that send an image in ``form``; those that decode it first add each decode's seconds
    of thread time to ``decodes``."""
    def make_call() -> Call:
        if form == FILE:
            return client.predict
        if form == WEB:
            assert web is not None, "the web form needs a web app"
            return http_calls(web[0], timeout_s)()

        def decode_then_predict(image: bytes) -> object:
            started = time.thread_time()
            pixels = decode_image(image)
            decodes.append(time.thread_time() - started)
            return client.predict(pixels)
        return decode_then_predict
    return make_call


def measure(
    address: str, server_pid: int, images: dict[str, list[bytes]], rounds: int = ROUNDS,
    clients: Sequence[int] = CLIENTS, requests: int = REQUESTS, timeout_s: float = TIMEOUT_S,
    forms: Sequence[str] = FORMS, progress: Callable[[str], None] | None = None,
    web: tuple[str, int] | None = None,
) -> list[Burst]:
    """Every size in every form at every number of clients, once per round, in rotating order.

    ``web`` (the URL of a web app's ``/api/predict`` in front of the same server, and its process
    id) adds the web app's form.
    """
    server = psutil.Process(server_pid)
    web_process = psutil.Process(web[1]) if web else None
    forms = [*forms, *([WEB] if web else [])]
    conditions = [(name, form) for name in images for form in forms]
    bursts = []
    with ModelClient(address, timeout=timeout_s, retries=0) as client:
        for round_index in range(rounds):
            for name, form in in_turn(conditions, round_index):
                decodes: list[float] = []
                make_call = _call_maker(form, client, web, timeout_s, decodes)
                for count in clients:
                    decodes.clear()
                    before, web_before = cpu_seconds(server), cpu_seconds(web_process) if web_process else 0.0
                    result = measured_load(make_call, images[name], count, max(requests, count),
                                           f"{name} as {form}, {count} clients", warmup=WARMUP)
                    sent = result.requests + WARMUP * count
                    bursts.append(Burst(
                        round_index, name, form, count, result.requests, result.throughput,
                        result.median_ms, result.p99_ms,
                        round((cpu_seconds(server) - before) * 1000 / sent, 2),
                        round(statistics.median(decodes) * 1000, 2) if decodes else 0.0,
                        round((cpu_seconds(web_process) - web_before) * 1000 / sent, 2) if form == WEB else 0.0))
                    if progress:
                        progress(f"round {round_index + 1}: {name} as {form}, {count} clients: "
                                 f"{result.throughput:.1f} img/s, {bursts[-1].server_cpu_ms:.0f} server CPU ms "
                                 f"each, {bursts[-1].client_decode_ms:.0f} client decode ms, "
                                 f"{bursts[-1].web_cpu_ms:.0f} web app CPU ms")
    return bursts


def summary(bursts: Sequence[Burst], cores: int | None = None) -> list[dict[str, object]]:
    """One row per size, form and number of clients: the median over rounds, with min–max."""
    cores = cores or psutil.cpu_count() or 1
    rows = []
    for name, form in dict.fromkeys((b.size, b.form) for b in bursts):
        for count in sorted({b.clients for b in bursts if (b.size, b.form) == (name, form)}):
            mine = [b for b in bursts if (b.size, b.form, b.clients) == (name, form, count)]
            cpu = spread([b.server_cpu_ms for b in mine])
            throughput = spread([b.throughput for b in mine], 1)
            rows.append({
                "size": name, "form": form, "clients": count, "rounds": len(mine),
                "img/s": throughput["median"],
                "img/s min–max": f"{throughput['min']:.1f}–{throughput['max']:.1f}",
                "median ms": round(statistics.median(b.median_ms for b in mine), 1),
                "p99 ms": round(statistics.median(b.p99_ms for b in mine), 1),
                "server CPU ms/request": round(cpu["median"], 1),
                "server CPU ms min–max": f"{cpu['min']:.0f}–{cpu['max']:.0f}",
                "web tier decode CPU ms/request": round(statistics.median(b.client_decode_ms for b in mine), 1),
                "web app CPU ms/request": round(statistics.median(b.web_cpu_ms for b in mine), 1),
                # What a model machine of this many cores could serve if CPU were its only limit.
                f"{cores} cores ÷ CPU s/request (img/s)":
                    round(cores * 1000 / cpu["median"], 1) if cpu["median"] else None,
            })
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sections.image_sizes",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", choices=RUNTIMES, default=TENSORFLOW)
    parser.add_argument("--precision", choices=PRECISIONS, default=F32)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--requests", type=int, default=REQUESTS, help="requests per burst")
    parser.add_argument("--out", type=Path, help="also write the rounds and the summary here, as JSON")
    args = parser.parse_args(argv)
    images = workload()
    with start_model_server("random", extra_args=runtime_args(args.runtime, args.precision),
                            name="bench-image-sizes") as server, \
            start_web_app(server.address, name="bench-image-sizes-web", wsgi_server="waitress") as web:
        assert server.pid is not None and web.pid is not None, "both are running"
        bursts = measure(server.address, server.pid, images, args.rounds, requests=args.requests,
                         progress=lambda line: print(line, file=sys.stderr),
                         web=(f"{web.address}/api/predict", web.pid))
    rows = summary(bursts)
    print(markdown(rows))
    if args.out:
        args.out.write_text(json.dumps({"runtime": args.runtime, "precision": args.precision,
                                        "file_bytes": {name: [len(f) for f in files] for name, files in images.items()},
                                        "rounds": [asdict(b) for b in bursts], "summary": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
