"""Bounded load tests: many clients at once, every reply checked against its own request.

``LOAD_REQUESTS`` sets the size of the web-app run: by default 160, ten rounds of the 16 clients (it was
320 until the suite's time mattered more: ten rounds already interleave every client with every
other); ``LOAD_REQUESTS=2000`` took 150 s on a quiet Zen 4 (``docs/testing.md``). Each image's
probabilities are known from a request sent alone, so a reply that reached the wrong client would
not match.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import requests

from harness.launch import start_broker, start_remote_worker, start_web_app
from harness.load import run_load
from harness.sample_images import photo_jpegs
from model_server.client import ModelClient

LOAD_REQUESTS = int(os.environ.get("LOAD_REQUESTS", "160"))
CLIENTS = 16
IMAGES = photo_jpegs(16)


#: Batched and single forward passes differ in float rounding, by about 1e-6.
TOLERANCE = 1e-4


def _fingerprint(predictions: list) -> list[tuple[str, float]]:
    return [(p["wnid"], p["probability"]) for p in predictions]


def _same(got: list[tuple[str, float]], expected: list[tuple[str, float]]) -> bool:
    return [w for w, _ in got] == [w for w, _ in expected] and all(
        abs(a - b) <= TOLERANCE for (_, a), (_, b) in zip(got, expected))


def test_sixteen_clients_through_the_web_app_lose_and_mix_up_nothing(model_server):
    with start_web_app(model_server.address, wsgi_server="waitress", name="load-web-app") as web:
        url = f"{web.address}/api/predict"

        def post(session: requests.Session, image: bytes) -> requests.Response:
            return session.post(url, files={"file": ("photo.jpg", image, "image/jpeg")}, timeout=60)

        with requests.Session() as session:
            expected = {image: _fingerprint(post(session, image).json()["predictions"])
                        for image in IMAGES}
        mismatches: list[tuple] = []

        def make_call():
            session = requests.Session()

            def call(image: bytes) -> None:
                response = post(session, image)
                response.raise_for_status()
                got = _fingerprint(response.json()["predictions"])
                if not _same(got, expected[image]):
                    mismatches.append((IMAGES.index(image), got, expected[image]))

            return call

        result = run_load(make_call, IMAGES, CLIENTS, LOAD_REQUESTS, warmup=0)
    print(f"\nload: {result.requests} requests from {CLIENTS} clients in {result.seconds} s: "
          f"{result.throughput} img/s, median {result.median_ms} ms, p99 {result.p99_ms} ms, "
          f"{result.errors} errors, {len(mismatches)} mismatched")
    assert result.errors == 0
    assert mismatches == [], mismatches[:3]


def test_killing_a_worker_under_load_loses_no_request_and_mixes_up_none(openvino_flags):
    """A worker process killed mid-load: its requests are retried by the clients (Lazy Pirate).
    The workers run ResNet50 on OpenVINO, quick to start (``openvino_flags``)."""
    with start_broker(name="load-broker") as broker:
        survivor = start_remote_worker(broker, workers=2, name="load-worker-survivor", extra_args=openvino_flags)
        victim = start_remote_worker(broker, workers=2, name="load-worker-victim", extra_args=openvino_flags)
        client = ModelClient(broker.address, timeout=5, retries=3)
        expected = {image: [(p.wnid, p.probability) for p in client.predict(image).predictions]
                    for image in IMAGES[:4]}
        outcomes: list[str] = []
        stop = threading.Event()

        def load(index: int) -> None:
            image = IMAGES[index % 4]
            while not stop.is_set():
                try:
                    reply = client.predict(image)
                except Exception as error:  # what a client saw is the result
                    outcomes.append(f"error: {error}")
                    continue
                got = [(p.wnid, p.probability) for p in reply.predictions]
                outcomes.append("ok" if _same(got, expected[image]) else "mismatch")

        threads = [threading.Thread(target=load, args=(i,)) for i in range(8)]
        try:
            for thread in threads:
                thread.start()
            _wait_until(lambda: len(outcomes) >= 16)
            os.kill(victim.pid, signal.SIGKILL)
            killed_at = len(outcomes)
            _wait_until(lambda: len(outcomes) >= killed_at + 24)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
            victim.stop()
            survivor.stop()
            client.close()
    counts = {kind: outcomes.count(kind) for kind in set(outcomes)}
    print(f"\nkill a worker under load: {counts}")
    assert counts.get("mismatch", 0) == 0
    assert [o for o in outcomes if o.startswith("error")] == []
    assert len(outcomes) >= killed_at + 24


def _wait_until(condition, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("the load did not make progress in time")
        time.sleep(0.05)
