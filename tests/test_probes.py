"""Each process tells an orchestrator how it is, over HTTP (``--http-address``): ``/livez``,
``/readyz`` and ``/metrics``.

Real processes and real HTTP: a model server with untrained weights, a pure broker and a remote
worker; the hang and the stalled loop are made in an in-process server (a classifier that hangs
once, a broker thread held up on purpose) behind real sockets.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TypeVar

import pytest

from fakes import ColourClassifier, HangsOnce, in_process_model_server, raw_dealer, red_image
from harness.launch import start_broker, start_model_server, start_remote_worker
from harness.processes import START_TIMEOUT_S, free_port
from harness.sample_images import photo
from model_server.client import ModelClient
from model_server.protocol import ServerError, encode_request_frames
from model_server.serving.settings import LOOP_STALL_S, flags, model_server_command
from prometheus_text import samples_of

#: Heartbeats of the broker and worker tests: a silent side is given up after 0.3 s × 3.
HEARTBEAT_ARGS = ("--heartbeat-interval-s", "0.3", "--heartbeat-liveness", "3")
#: Seconds a probe may take to say what the test waits for.
SETTLE_S = 15.0
#: Seconds one HTTP request may take.
HTTP_TIMEOUT_S = 5.0
IMAGE = photo()

T = TypeVar("T")


def http_get(url: str) -> tuple[int, str]:
    """The status and the body of ``GET url``, errors included."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def metric_samples(base_url: str) -> dict[str, float]:
    """``/metrics`` as ``{'name{label="value"}': value}`` (``prometheus_text.samples_of``)."""
    status, text = http_get(base_url + "/metrics")
    assert status == 200, text
    return samples_of(text)


def eventually(observe: Callable[[], T], wanted: Callable[[T], bool], timeout_s: float = SETTLE_S) -> T:
    """Observe until what is seen is wanted, within ``timeout_s``; fail with the last seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = observe()
        if wanted(seen):
            return seen
        assert time.monotonic() < deadline, f"still {seen!r} after {timeout_s} s"
        time.sleep(0.1)


def http_address() -> tuple[str, str]:
    """A free loopback ``HOST:PORT`` for ``--http-address``, and its URL."""
    address = f"127.0.0.1:{free_port()}"
    return address, f"http://{address}"


# --- a model server with its own worker threads ----------------------------------------------------


@pytest.fixture(scope="module")
def probed_server():
    """The real model server (untrained weights, two workers) with ``--http-address``; started
    until it is live, and asked whether it is ready while it still loads its model."""
    http, url = http_address()
    with start_model_server(weights="random", workers=2, live_at=http, name="test-probed-server") as server:
        server.readyz_while_loading = http_get(url + "/readyz")
        server.http_url = url
        eventually(lambda: http_get(url + "/readyz")[0], lambda status: status == 200, START_TIMEOUT_S)
        yield server


def test_a_model_server_is_live_while_it_loads_and_ready_once_it_has(probed_server):
    status, reason = probed_server.readyz_while_loading
    assert (status, reason.strip()) == (503, "starting: loading the model")
    assert http_get(probed_server.http_url + "/livez") == (200, "live\n")
    status, reason = http_get(probed_server.http_url + "/readyz")
    assert status == 200 and "1 worker(s), 2 thread(s)" in reason
    assert http_get(probed_server.http_url + "/nothing")[0] == 404


def test_a_model_servers_metrics_count_the_requests_it_answered(probed_server):
    before = metric_samples(probed_server.http_url)
    with ModelClient(probed_server.address, timeout=30, retries=0) as client:
        for _ in range(3):
            client.predict(IMAGE)
    with raw_dealer(probed_server.address) as raw:
        raw.send_multipart([b"", b"{broken"])
        assert raw.poll(30_000), "no answer to a broken request"
    after = metric_samples(probed_server.http_url)

    def moved(name: str) -> float:
        return after[name] - before.get(name, 0.0)

    assert moved("model_server_requests_total") == 4
    assert moved("model_server_replies_total") == 4
    assert moved('model_server_errors_total{code="bad_json"}') == 1
    assert moved("model_server_batch_size_count") == 3
    assert moved("model_server_batch_size_sum") == 3
    for stage in ("decode", "queue", "preprocess", "inference", "total"):
        assert moved(f'model_server_stage_seconds_count{{stage="{stage}"}}') == 3, stage
    assert moved('model_server_stage_seconds_sum{stage="inference"}') > 0
    assert after["model_server_queue_depth"] == 0 and after["model_server_waiting"] == 0
    assert after["model_server_in_flight"] == 0 and after["model_server_max_queue"] == 64
    assert after['model_server_worker_threads{kind="local"}'] == 2
    assert after['model_server_workers{kind="remote"}'] == 0
    for family in ("model_server_workers_joined_total", "model_server_workers_lost_total",
                   "model_server_retries_total", "model_server_late_replies_dropped_total"):
        assert after[family] == 0, family
    assert after['model_server_stuck_threads{stage="forward_pass"}'] == 0


def test_an_http_address_in_use_stops_the_server_at_once_saying_so():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        http = f"127.0.0.1:{taken.getsockname()[1]}"
        argv = model_server_command(*flags(
            address=f"tcp://127.0.0.1:{free_port()}", workers=0,
            backend_address=f"tcp://127.0.0.1:{free_port()}", http_address=http))
        ended = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert ended.returncode == 1
    assert f"cannot serve /livez, /readyz and /metrics on {http}" in ended.stderr, ended.stderr


# --- a pure broker and a remote worker (ResNet50 on OpenVINO, quick to start: openvino_flags) ------


def test_a_pure_broker_is_ready_only_while_a_remote_worker_is_joined(openvino_flags):
    broker_http, broker_url = http_address()
    worker_http, worker_url = http_address()
    with start_broker(name="test-probes-broker",
                      extra_args=(*HEARTBEAT_ARGS, *flags(http_address=broker_http))) as broker:
        status, reason = http_get(broker_url + "/readyz")  # it serves them before it listens for clients
        assert status == 503 and "no remote worker has joined" in reason, reason
        assert http_get(broker_url + "/livez")[0] == 200
        with start_remote_worker(broker, workers=2, name="test-probes-worker",
                                 extra_args=(*HEARTBEAT_ARGS, *flags(http_address=worker_http), *openvino_flags)):
            assert http_get(broker_url + "/readyz")[0] == 200
            eventually(lambda: http_get(worker_url + "/readyz")[0], lambda status: status == 200)
            with ModelClient(broker.address, timeout=30, retries=0) as client:
                client.predict(IMAGE)
                client.predict(IMAGE)
            on_broker, on_worker = metric_samples(broker_url), metric_samples(worker_url)
        status, reason = eventually(lambda: http_get(broker_url + "/readyz"), lambda seen: seen[0] == 503)
        assert "no remote worker has joined" in reason
    assert on_broker["model_server_workers_joined_total"] == 1
    assert on_broker['model_server_workers{kind="remote"}'] == 1
    assert on_broker['model_server_worker_threads{kind="remote"}'] == 2
    assert on_broker["model_server_requests_total"] == 2
    assert "model_server_batch_size_count" not in on_broker, "a broker counts only its own batches"
    assert on_worker["remote_worker_broker_connected"] == 1
    assert on_worker["remote_worker_requests_total"] == 2
    assert on_worker["remote_worker_replies_total"] == 2
    assert on_worker["model_server_batch_size_sum"] == 2
    assert on_worker['model_server_stage_seconds_count{stage="total"}'] == 2


def test_a_remote_worker_is_unready_while_its_broker_is_gone(openvino_flags):
    ports = {"port": free_port(), "backend_port": free_port()}
    worker_http, worker_url = http_address()
    first = start_broker(name="test-probes-gone-broker", extra_args=HEARTBEAT_ARGS, **ports)
    try:
        with start_remote_worker(first, workers=1, name="test-probes-gone-worker",
                                 extra_args=(*HEARTBEAT_ARGS, *flags(http_address=worker_http), *openvino_flags)):
            eventually(lambda: http_get(worker_url + "/readyz")[0], lambda status: status == 200)
            first.stop()
            _status, reason = eventually(lambda: http_get(worker_url + "/readyz"),
                                        lambda seen: seen[0] == 503)
            assert "no heartbeat from the broker" in reason, reason
            assert metric_samples(worker_url)["remote_worker_broker_connected"] == 0
            time.sleep(LOOP_STALL_S + 1)  # waiting to reconnect is not a stalled loop
            assert http_get(worker_url + "/livez") == (200, "live\n")
            with start_broker(name="test-probes-gone-broker", extra_args=HEARTBEAT_ARGS, **ports):
                eventually(lambda: http_get(worker_url + "/readyz")[0], lambda status: status == 200,
                           timeout_s=30)
                back = metric_samples(worker_url)
    finally:
        first.stop()
    assert back["remote_worker_broker_connected"] == 1
    assert back["remote_worker_reconnects_total"] >= 1


# --- hangs and stalls, in a server on a thread of the test ----------------------------------------


def test_livez_is_503_while_a_hung_forward_pass_is_stuck_and_200_once_it_returns():
    hangs = HangsOnce(ColourClassifier())
    http, url = http_address()
    try:
        with in_process_model_server(hangs, workers=2, max_batch=1, hang_timeout_s=0.5,
                                     http_address=http) as address:
            assert http_get(url + "/livez") == (200, "live\n")
            with ModelClient(address, timeout=10, retries=0) as client:
                with pytest.raises(ServerError) as raised:
                    client.predict(red_image(1))  # hangs; given up after 0.5 s
                status, reason = http_get(url + "/livez")
                ready, _ = http_get(url + "/readyz")
                stuck = metric_samples(url)
                assert client.predict(red_image(2)).predictions[0].label == "red 2"
            hangs.release.set()
            recovered = eventually(lambda: http_get(url + "/livez"), lambda seen: seen[0] == 200)
            after = metric_samples(url)
    finally:
        hangs.release.set()
    assert raised.value.code == "worker_lost"
    assert status == 503 and "1 forward pass(es) given up as hung" in reason, reason
    assert ready == 200, "a new batcher thread serves on: the server can take work"
    assert stuck['model_server_stuck_threads{stage="forward_pass"}'] == 1
    assert stuck["model_server_hung_forward_passes_total"] == 1
    assert stuck['model_server_errors_total{code="worker_lost"}'] == 1
    assert recovered == (200, "live\n")
    assert after['model_server_stuck_threads{stage="forward_pass"}'] == 0


@pytest.fixture
def broker_held_up(monkeypatch):
    """The broker's thread stops in the header of a request whose id is "hold" until the event
    is set (at teardown at the latest); other requests pass as usual."""
    from model_server.serving import broker

    read_header, release = broker.read_header, threading.Event()

    def held_up(frame: bytes):
        header = read_header(frame)
        if header.id == "hold":
            release.wait(60)
        return header

    monkeypatch.setattr(broker, "read_header", held_up)
    yield release
    release.set()


def test_livez_and_readyz_are_503_while_the_broker_loop_is_stalled(broker_held_up):
    http, url = http_address()
    with in_process_model_server(ColourClassifier(), workers=1, http_address=http) as address:
        assert http_get(url + "/readyz")[0] == 200
        try:
            with raw_dealer(address) as client:
                client.send_multipart([b"", b'{"op": "ping", "id": "hold"}'])
                stalled = eventually(lambda: http_get(url + "/livez"), lambda seen: seen[0] == 503)
                not_ready = http_get(url + "/readyz")
                during = metric_samples(url)
                broker_held_up.set()
                assert client.poll(10_000), "the held-up request was never answered"
        finally:
            broker_held_up.set()  # before the server stops, also when the test fails
        recovered = eventually(lambda: http_get(url + "/livez"), lambda seen: seen[0] == 200)
        ready_again = http_get(url + "/readyz")[0]
    assert "the broker's loop has not come round" in stalled[1], stalled
    assert not_ready[0] == 503 and "the broker's loop" in not_ready[1]
    assert "model_server_requests_total" not in during, "a stalled broker's figures are not made up"
    assert "model_server_batch_size_count" in during, "the workers' own figures are still there"
    assert recovered == (200, "live\n") and ready_again == 200


def test_readyz_is_503_while_the_server_drains_and_livez_stays_200():
    """On SIGTERM an orchestrator must stop sending work at once, and must not kill the process
    while it finishes what it holds."""
    stop, (http, url) = threading.Event(), http_address()
    with in_process_model_server(ColourClassifier(seconds=2.0), stop=stop, workers=1, max_batch=1,
                                 drain_seconds=10, http_address=http) as address:
        assert http_get(url + "/readyz")[0] == 200
        with raw_dealer(address) as held:
            held.send_multipart([b"", *encode_request_frames(red_image(3), top=1)])
            time.sleep(0.5)  # the image is in its 2 s forward pass
            stop.set()
            draining = eventually(lambda: http_get(url + "/readyz"), lambda seen: seen[0] == 503)
            live = http_get(url + "/livez")
            assert not held.poll(0), "not ready only once the request in flight was finished"
            assert held.poll(10_000), "the request in flight was not finished"
    assert "stopping" in draining[1], draining
    assert live == (200, "live\n")
