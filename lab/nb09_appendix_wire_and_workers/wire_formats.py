"""Two frames against base64 JSON on the wire (notebook 09): the same images, one client, the two
formats taking turns, and the bytes each puts on the wire."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from harness.stats import percentile
from model_server.client import ModelClient
from model_server.protocol import encode_request, encode_request_frames

#: One client, this many images, each sent in both formats.
WIRE_REQUESTS = 30
#: Seconds one request may take before it counts as failed.
REQUEST_TIMEOUT_S = 60.0

BINARY_FRAMES = "two frames: JSON header + image bytes"
BASE64_JSON = "one frame: base64 in JSON (as the original sends its payload)"


def _percentile(values: Sequence[float], q: float) -> float:
    """``harness.stats.percentile`` to the hundredth of a millisecond; there is always a value here."""
    value = percentile(values, q)
    if value is None:
        raise ValueError("no requests measured")
    return value


@dataclass(frozen=True)
class WireFormatRun:
    """One wire format at one client: each request's milliseconds, and the bytes one request sends."""

    label: str
    binary: bool
    latencies_ms: tuple[float, ...]
    request_bytes: int

    @property
    def median_ms(self) -> float:
        return _percentile(self.latencies_ms, 50)

    @property
    def quartiles_ms(self) -> tuple[float, float]:
        """The 25th and 75th percentiles: half the requests took between these."""
        return _percentile(self.latencies_ms, 25), _percentile(self.latencies_ms, 75)

    def as_row(self) -> dict[str, object]:
        low, high = self.quartiles_ms
        return {
            "wire format": self.label,
            "bytes per request": self.request_bytes,
            "requests": len(self.latencies_ms),
            "median (ms)": round(self.median_ms, 1),
            "middle half (ms)": f"{low:.1f}–{high:.1f}",
        }


def request_bytes(image: bytes, binary: bool) -> int:
    """What one request for ``image`` puts on the wire, in bytes (frames summed)."""
    frames = encode_request_frames(image) if binary else [encode_request(image)]
    return sum(len(frame) for frame in frames)


def paired_difference_ms(binary: WireFormatRun, base64_json: WireFormatRun) -> float:
    """Median over the pairs of (base64 JSON − two frames): positive when base64 is slower."""
    return _percentile([b - a for a, b in zip(binary.latencies_ms, base64_json.latencies_ms)], 50)


def compare_wire_formats(
    address: str, images: Sequence[bytes], requests: int = WIRE_REQUESTS,
    timeout: float = REQUEST_TIMEOUT_S,
) -> list[WireFormatRun]:
    """Two frames, then base64 JSON (the list's order), one client, the formats taking turns.

    Each image is sent in both formats one right after the other, the first of the pair
    alternating: on a shared machine the load drifts by more than the difference being measured,
    and timing one format for a while and then the other would measure the drift.
    """
    latencies: dict[bool, list[float]] = {True: [], False: []}
    with ModelClient(address, timeout=timeout, retries=0, binary=True) as binary_client, \
            ModelClient(address, timeout=timeout, retries=0, binary=False) as base64_client:
        clients = {True: binary_client, False: base64_client}
        for client in clients.values():
            client.predict(images[0])
        for index in range(requests):
            image = images[index % len(images)]
            for binary in ((True, False) if index % 2 == 0 else (False, True)):
                began = time.perf_counter()
                clients[binary].predict(image)
                latencies[binary].append((time.perf_counter() - began) * 1000.0)
    return [WireFormatRun(BINARY_FRAMES if binary else BASE64_JSON, binary, tuple(latencies[binary]),
                          round(sum(request_bytes(image, binary) for image in images) / len(images)))
            for binary in (True, False)]
