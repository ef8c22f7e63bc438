"""Notebook 04's helpers: the original's client, and the clients timed against a real server."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid

import pytest
import zmq

from fakes import ColourClassifier, free_address, red_image
from harness import original_client
from harness.stats import MeasurementFailed
from lab.nb04_model_server import original_against_ours
from model_server.protocol import ServerError
from solutions import resnet_model_server, test_client


def test_mean_batch_is_per_image_not_per_forward_pass():
    assert original_against_ours.mean_batch({1: 2, 8: 1}) == pytest.approx((1 * 2 + 8 * 8) / 10)
    assert original_against_ours.mean_batch({}) == 0.0


def test_batches_between_counts_only_the_new_forward_passes():
    assert original_against_ours.batches_between({1: 5, 4: 1}, {1: 7, 4: 1, 8: 2}) == {1: 2, 8: 2}


def test_with_deadline_keeps_the_request_and_adds_the_field():
    request = test_client.encode_request(b"abc")
    assert json.loads(original_against_ours.with_deadline(request, 1)) == {**json.loads(request), "deadline_ms": 1}


def test_measure_with_test_client_times_each_level_and_fails_loudly():
    address = free_address()
    with resnet_model_server.Server(address, ColourClassifier(0.01)):
        rows = original_against_ours.measure_with_test_client(
            "fake", address, test_client, [red_image(1), red_image(2)], levels=(1, 2), requests=4, timeout_s=5)
        assert [(row["clients"], row["requests"]) for row in rows] == [(1, 4), (2, 4)]
        assert all(row["images per second"] > 0 for row in rows)
        with pytest.raises(MeasurementFailed, match="not_an_image"):
            original_against_ours.measure_with_test_client("fake", address, test_client, [b"not an image"],
                                                     levels=(1,), requests=1, timeout_s=5)


class OnePassAtATime(ColourClassifier):
    """A model whose forward passes take turns, as on a CPU that one pass keeps busy."""

    def __init__(self, seconds: float):
        super().__init__(seconds)
        self._turn = threading.Lock()

    def infer(self, batch):
        with self._turn:
            return super().infer(batch)


def test_a_burst_sorts_replies_into_in_time_too_late_and_errors():
    """A thread per request, passes that take turns, 0.2 s each; 6 requests at once, 0.3 s
    deadline: the first in time, 5 computed too late (the last after 1.2 s)."""
    address = free_address()
    with resnet_model_server.Server(address, OnePassAtATime(0.2)):
        burst = original_against_ours.burst_with_deadline(address, test_client.encode_request(red_image(1)),
                                                    clients=6, deadline_ms=300, timeout_s=5)
        assert {kind: figures["requests"] for kind, figures in burst.items()} == {"in time": 1, "too late": 5}
        assert burst["too late"]["slowest (ms)"] >= 1150
        errors = original_against_ours.burst_with_deadline(address, test_client.encode_request(b"not an image"),
                                                     clients=2, deadline_ms=300, timeout_s=5)
        assert {kind: figures["requests"] for kind, figures in errors.items()} == {"error: not_an_image": 2}


def test_model_client_reads_the_original_servers_reply():
    """The original's reply has no weights, model or timings: ModelClient reads it all the same."""
    from model_server.client import ModelClient

    address = free_address()
    with resnet_model_server.Server(address, ColourClassifier(0.01)):
        with ModelClient(address, timeout=5, retries=0, binary=False) as client:
            reply = client.predict(red_image(1))
    assert reply.predictions and reply.predictions[0].label
    assert (reply.weights, reply.timings) == (None, None)


def test_the_original_client_sends_one_frame_named_by_its_uuid_and_reads_preds():
    """As the original's: a DEALER whose identity is a uuid, one frame (no empty delimiter) with
    "payload" and the same uuid as "_rid"; it returns the reply's "preds"."""
    context = zmq.Context.instance()
    server = context.socket(zmq.ROUTER)
    server.linger = 0
    port = server.bind_to_random_port("tcp://127.0.0.1")
    answer: list[object] = []
    client = threading.Thread(target=lambda: answer.append(original_client.predict(
        b"image bytes", f"tcp://127.0.0.1:{port}", max_wait_s=5, poll_s=0.1)))
    client.start()
    try:
        assert server.poll(5000), "the client sent nothing"
        identity, *body = server.recv_multipart()
        assert len(body) == 1, f"expected one frame after the identity, got {body!r}"
        request = json.loads(body[0])
        assert str(uuid.UUID(identity.decode())) == identity.decode() == request["_rid"]
        assert base64.b64decode(request["payload"]) == b"image bytes"
        server.send_multipart([identity, json.dumps({"preds": "tabby : 0.5"}).encode()])
        client.join(5)
    finally:
        server.close()
    assert answer == ["tabby : 0.5"]


def test_the_original_client_given_a_limit_stops_waiting_and_says_the_original_would_not():
    began = time.perf_counter()
    with pytest.raises(original_client.NoReplyYet, match="no limit"):
        original_client.predict(red_image(1), free_address(), max_wait_s=0.5, poll_s=0.2)
    assert 0.5 <= time.perf_counter() - began < 1.5


def test_the_original_client_raises_the_error_its_preds_carry():
    address = free_address()
    with resnet_model_server.Server(address, ColourClassifier(0.0)):
        with pytest.raises(ServerError) as raised:
            original_client.predict(b"not an image", address, max_wait_s=5)
    assert raised.value.code == "not_an_image"


def test_thread_cost_counts_a_thread_per_request_and_the_memory():
    """The server in this process: its threads are this process's, the load's client threads too."""
    address = free_address()
    with resnet_model_server.Server(address, ColourClassifier(0.1)):
        (row,) = original_against_ours.thread_cost("fake", address, os.getpid(), [red_image(1), red_image(2)],
                                             levels=(4,), requests=8, timeout_s=5)
    assert (row["clients"], row["requests"]) == (4, 8)
    # 4 client threads, and a handler thread for each of their requests while it is computed.
    assert row["threads at peak"] >= row["threads idle"] + 4 + 4
    assert row["p90 (ms)"] >= row["median (ms)"] >= 100
    assert row["RSS at peak (MB)"] >= row["RSS idle (MB)"] > 0
    assert row["images per second"] > 0
