"""What handing each decode to a decoder thread (``model_server.decoder_threads``) adds to a request.

Two numbers: the handoff of a call that does nothing (the CPU cost: a queue put, a future, two
thread switches), and the wall time added around a real ``decode_image`` of a photo, measured in
pairs (one direct decode, one handed over, alternating) so that the drift of a shared machine
cancels out. The second includes the time a woken thread waits for a free core, so it grows when
the machine is busy.

Run ``python -m benchmarks.decode_handoff``; prints JSON (microseconds).
"""

from __future__ import annotations

import json
import statistics
import threading
import time

from model_server.decoder_threads import DecoderThreads
from model_server.images import decode_image

from .workload import photo_jpegs

NOOP_CALLS = 20_000
PAIRS = 1500


def _nothing(image: bytes) -> None:
    return None


def measure() -> dict[str, float]:
    images = photo_jpegs(4)
    decoders = DecoderThreads(timeout_s=30.0)
    started = time.perf_counter()
    for index in range(NOOP_CALLS):
        decoders.run(_nothing, images[index % 4])
    noop_us = (time.perf_counter() - started) / NOOP_CALLS * 1e6

    direct, handed = [], []
    for index in range(PAIRS):
        image = images[index % 4]
        started = time.perf_counter()
        decode_image(image)
        direct.append(time.perf_counter() - started)
        started = time.perf_counter()
        decoders.run(decode_image, image)
        handed.append(time.perf_counter() - started)
    added = sorted((h - d) * 1e6 for d, h in zip(direct, handed))
    return {
        "noop_handoff_us": round(noop_us, 1),
        "decode_us_median": round(statistics.median(direct) * 1e6, 1),
        "added_us_median": round(statistics.median(added), 1),
        "added_us_p90": round(added[int(0.9 * len(added))], 1),
        "added_us_mean": round(statistics.fmean(added), 1),
    }


if __name__ == "__main__":
    # From a thread other than the main one, as a worker thread calls it.
    result: dict[str, float] = {}
    thread = threading.Thread(target=lambda: result.update(measure()))
    thread.start()
    thread.join()
    print(json.dumps(result, indent=2))
