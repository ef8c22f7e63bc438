"""``lab.routing_demo``, which notebook 03 shows routing with: real sockets, nothing left running."""

from __future__ import annotations

import threading
import time

import pytest
import zmq

from lab import routing_demo
from solutions.nb03_routing import reply_to


@pytest.fixture
def context():
    return zmq.Context.instance()


def test_describe_names_identity_delimiter_and_body():
    lines = routing_demo.describe([b"client-a", b"", b"hello"]).splitlines()
    assert ["identity" in lines[0], "delimiter" in lines[1], "body" in lines[2]] == [True] * 3


def test_receive_gives_up_after_its_timeout(context):
    socket = context.socket(zmq.PULL)
    socket.linger = 0
    try:
        routing_demo.loopback_endpoint(socket)
        started = time.perf_counter()
        with pytest.raises(routing_demo.NoMessage):
            routing_demo.receive(socket, 0.2)
        assert time.perf_counter() - started < 2.0
    finally:
        socket.close()


def test_a_dealer_hands_requests_to_each_worker_in_turn(context):
    backend = context.socket(zmq.DEALER)
    backend.linger = 0
    address = routing_demo.inproc_endpoint("backend")
    backend.bind(address)
    try:
        with routing_demo.Workers(context, address, ["w1", "w2"]) as workers:
            for number in range(4):
                backend.send_multipart([b"", f"request {number}".encode()])
            replies = [routing_demo.receive(backend) for _ in range(4)]
        assert all(frames[0] == b"" for frames in replies)
        assert sorted(name for name, _ in workers.seen) == ["w1", "w1", "w2", "w2"]
    finally:
        backend.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("worker-")]


def test_the_proxy_routes_each_reply_to_its_client_and_stops(context):
    with routing_demo.Proxy(context) as proxy, routing_demo.Workers(
        context, proxy.backend, ["w1", "w2"], kind="dealer", reply_to=reply_to
    ) as workers:
        clients = [context.socket(zmq.REQ) for _ in range(3)]
        try:
            for number, client in enumerate(clients):
                client.linger = 0
                client.connect(proxy.address)
                client.send(f"client {number}".encode())
            answers = [routing_demo.receive(client) for client in clients]
        finally:
            for client in clients:
                client.close()
    assert [a[0].endswith(f"'client {n}'".encode()) for n, a in enumerate(answers)] == [True] * 3
    assert all(len(frames) == 3 for _, frames in workers.seen)
    assert not [t for t in threading.enumerate() if t.name in ("proxy",) or t.name.startswith("worker-")]
