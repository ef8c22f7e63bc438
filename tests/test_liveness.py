"""Faults: remote workers that die or hang, and what the broker does with the requests they held.

Real processes throughout: a broker (``--workers 0``), remote worker processes killed with
SIGKILL or frozen with SIGSTOP, raw DEALER clients that see every reply that arrives.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import zmq

from benchmarks.workload import photo_jpegs
from lab.processes import start_broker, start_remote_worker
from model_server.client import ModelClient
from model_server.protocol import encode_request_frames

#: Heartbeats in these tests: a dead worker is noticed after 0.3 s × 3.
HEARTBEAT_ARGS = ("--heartbeat-interval-s", "0.3", "--heartbeat-liveness", "3")
#: Seconds within which every request held by a lost worker must be answered.
ANSWER_BOUND_S = 30.0
IMAGE = photo_jpegs(1)[0]


@pytest.fixture
def context():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def dealer(context: zmq.Context, address: str) -> zmq.Socket:
    socket = context.socket(zmq.DEALER)
    socket.linger = 0
    socket.connect(address)
    return socket


def send_predict(socket: zmq.Socket, request_id: str, deadline_ms: int | None = None) -> None:
    frames = encode_request_frames(IMAGE, top=1, request_id=request_id)
    if deadline_ms is not None:
        header = json.loads(frames[0])
        header["deadline_ms"] = deadline_ms
        frames[0] = json.dumps(header).encode()
    socket.send_multipart([b"", *frames])


def receive(socket: zmq.Socket, timeout_s: float = ANSWER_BOUND_S) -> dict:
    assert socket.poll(timeout_s * 1000), f"no answer within {timeout_s} s"
    return json.loads(socket.recv_multipart()[-1])


def test_requests_lost_with_a_killed_worker_do_not_fill_the_queue(context):
    """The broker once counted lost requests as in flight forever: after --max-queue of them,
    every request was answered "busy". Now each lost request is answered and its slot freed."""
    with start_broker(name="test-leak-broker", extra_args=("--max-queue", "2", *HEARTBEAT_ARGS)) as broker:
        victim = start_remote_worker(broker, workers=2, name="test-leak-victim", extra_args=HEARTBEAT_ARGS)
        try:
            os.kill(victim.pid, signal.SIGSTOP)  # it holds whatever it is sent from now on
            held = [dealer(context, broker.address) for _ in range(2)]
            for index, socket in enumerate(held):
                send_predict(socket, f"held-{index}")
            time.sleep(0.5)
            os.kill(victim.pid, signal.SIGKILL)
        finally:
            victim.stop()
        with start_remote_worker(broker, workers=2, name="test-leak-survivor", extra_args=HEARTBEAT_ARGS):
            answers = [receive(socket) for socket in held]
            with ModelClient(broker.address, timeout=ANSWER_BOUND_S, retries=0) as client:
                replies = [client.predict(IMAGE) for _ in range(3)]
    assert [a["id"] for a in answers] == ["held-0", "held-1"]
    assert all("predictions" in a or a["error"]["code"] == "worker_lost" for a in answers), answers
    assert all(reply.predictions for reply in replies)
