"""What a big request in the original's format costs the broker, and every other client.

The broker reads each request's op, id and deadline on its one thread (``protocol.read_header``)
while every other client waits. This measures:

1. **header time**: the median of many ``read_header`` calls on a 640×480 JPEG (about 70 KB) and
   on a 4 MB image, each in the original's base64 JSON, beside a whole ``json.loads`` of the
   same frame (what the broker did before it cut the image out);
2. **a small request's latency**: a 640×480 JPEG through ``ModelClient`` against a real
   ``python -m model_server --weights random``, and a ``stats`` request (answered by the broker
   itself, so its latency is the broker's alone), each alone and while another client streams
   original-format requests, in alternating blocks (rounds) so that the machine's drift falls on
   both. Three streams: a 4032×3024 photo padded to 4 MB (its worker decodes a phone photo), a
   640×480 JPEG padded to 4 MB (the big frame, base64 and broker without the decoding: the
   bytes after a JPEG's end are ignored by its decoder), and as the control the 640×480 JPEG
   itself: the same forward passes competing for the CPU, without a big frame.

Run ``python -m benchmarks.sections.broker_header``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from collections.abc import Callable
from functools import partial
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event

from benchmarks.rounds.turns import in_turn
from harness.launch import start_model_server
from harness.sample_images import PHONE_PHOTO_SIZE, PHOTO_SIZE, padded, photos
from harness.stats import median_seconds, percentile
from model_server.client import ModelClient
from model_server.protocol import encode_request, read_header

#: The big image's size: a phone photo of a few megabytes, before base64.
BIG_IMAGE_BYTES = 4_000_000
HEADER_CALLS = 500
ROUNDS = 6
#: Small requests per round and condition (alone, with big ones streaming).
REQUESTS_PER_BLOCK = 30
REQUEST_TIMEOUT_S = 60.0


def median_ms(call: Callable[[], object], calls: int) -> float:
    return round(median_seconds(call, calls) * 1000, 4)


def header_times(small: bytes, big: bytes, calls: int = HEADER_CALLS) -> dict[str, dict]:
    """Median milliseconds of the broker's header read, and of a whole parse, at both sizes."""
    results = {}
    for name, image in (("640x480 JPEG", small), ("4 MB image", big)):
        frame = encode_request(image, request_id="header-timing", deadline_ms=1000)
        results[name] = {
            "image_bytes": len(image), "frame_bytes": len(frame),
            "read_header_ms": median_ms(partial(read_header, frame), calls),
            "whole_json_loads_ms": median_ms(partial(json.loads, frame), max(20, calls // 10)),
        }
    return results


def _stream(address: str, image: bytes, on: Event, idle: Event, began: Event, stop: Event,
            sent: Synchronized[int]) -> None:
    """The other client's process: one big request after another while ``on`` is set."""
    with ModelClient(address, timeout=REQUEST_TIMEOUT_S, binary=False) as client:
        while not stop.is_set():
            if not on.wait(0.1):
                continue
            idle.clear()
            began.set()
            client.predict(image)
            with sent.get_lock():
                sent.value += 1
            idle.set()


class BigRequestStream:
    """Another client, in a process of its own (encoding 4 MB of base64 holds Python's lock,
    which would slow the measuring thread), sending one big request after another while on."""

    def __init__(self, address: str, image: bytes):
        context = multiprocessing.get_context("spawn")
        self._on, self._idle, self._began, self._stop = (context.Event() for _ in range(4))
        self._idle.set()
        self._sent = context.Value("i", 0)
        self._process = context.Process(
            target=_stream, daemon=True,
            args=(address, image, self._on, self._idle, self._began, self._stop, self._sent))
        self._process.start()

    @property
    def sent(self) -> int:
        return self._sent.value

    def start(self) -> None:
        """Start sending, and wait until a big request is under way."""
        self._began.clear()
        self._on.set()
        self._began.wait(REQUEST_TIMEOUT_S)

    def pause(self) -> None:
        """Stop sending, and wait until the big request in flight is answered."""
        self._on.clear()
        self._idle.wait(REQUEST_TIMEOUT_S)

    def close(self) -> None:
        self.pause()
        self._stop.set()
        self._process.join(REQUEST_TIMEOUT_S)
        if self._process.is_alive():
            self._process.terminate()


def _percentiles(values: list[float]) -> dict[str, float | None]:
    return {"requests": len(values), "p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99)}


def latencies(address: str, small: bytes, big: bytes, rounds: int, per_block: int) -> dict[str, dict]:
    """A small predict's latency, and a stats request's (which the broker answers itself: its
    latency is the broker's alone), without and with ``big`` streaming, blocks alternating."""
    conditions = ("alone", "while another client streams")
    samples: dict[str, dict[str, list[float]]] = {
        probe: {condition: [] for condition in conditions} for probe in ("predict 640x480", "stats")}
    stream = BigRequestStream(address, big)
    try:
        with ModelClient(address, timeout=REQUEST_TIMEOUT_S) as client:
            for _ in range(5):
                client.predict(small)
            for round_index in range(rounds):
                for condition in in_turn(conditions, round_index):
                    if condition == "alone":
                        stream.pause()
                    else:
                        stream.start()
                    for _ in range(per_block):
                        for probe, call in (("predict 640x480", lambda: client.predict(small)),
                                            ("stats", client.stats)):
                            started = time.perf_counter()
                            call()
                            samples[probe][condition].append((time.perf_counter() - started) * 1000)
    finally:
        stream.close()
    summary: dict = {"streamed requests answered": stream.sent}
    for probe, by_condition in samples.items():
        summary[probe] = {condition: _percentiles(values) for condition, values in by_condition.items()}
        summary[probe]["p99 ratio"] = round(summary[probe][conditions[1]]["p99_ms"]
                                            / summary[probe]["alone"]["p99_ms"], 2)
    return summary


def measure(rounds: int = ROUNDS, per_block: int = REQUESTS_PER_BLOCK) -> dict:
    small = photos(1, PHOTO_SIZE, "JPEG", seed=0)[0]
    phone = photos(1, PHONE_PHOTO_SIZE, "JPEG", seed=1)[0]
    big_photo = padded(phone, BIG_IMAGE_BYTES)
    results: dict = {"header": header_times(small, big_photo)}
    streams = {
        f"4 MB: a {PHONE_PHOTO_SIZE[0]}x{PHONE_PHOTO_SIZE[1]} photo, padded": big_photo,
        "4 MB: a 640x480 JPEG, padded (the big frame without its decoding)": padded(small, BIG_IMAGE_BYTES),
        "control: the 640x480 JPEG itself (the same model work, a small frame)": small,
    }
    server = start_model_server(weights="random", name="broker-header-benchmark")
    try:
        for name, streamed in streams.items():
            results[name] = latencies(server.address, small, streamed, rounds, per_block)
    finally:
        server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sections.broker_header",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--per-block", type=int, default=REQUESTS_PER_BLOCK,
                        help="small requests per round and condition")
    parser.add_argument("--header-only", action="store_true", help="only the header times; no server")
    args = parser.parse_args()
    if args.header_only:
        small = photos(1, PHOTO_SIZE, "JPEG", seed=0)[0]
        print(json.dumps({"header": header_times(small, padded(small, BIG_IMAGE_BYTES))}, indent=2))
        return
    print(json.dumps(measure(args.rounds, args.per_block), indent=2))


if __name__ == "__main__":
    main()
