"""``lab.nb03_zeromq_routing.routing_demo``, which notebook 03 runs the learner's worker and proxy with: real sockets,
nothing left running, and a thread that does not stop is named."""

from __future__ import annotations

import threading
import time

import pytest
import zmq

from lab.nb03_zeromq_routing import routing_demo
from solutions.nb03_routing import run_proxy, worker_loop


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
        with routing_demo.Workers(worker_loop, context, address, ["w1", "w2"]) as workers:
            for number in range(4):
                backend.send_multipart([b"", f"request {number}".encode()])
            replies = [routing_demo.receive(backend) for _ in range(4)]
        assert not workers.alive()
    finally:
        backend.close()
    assert all(frames[0] == b"" for frames in replies)
    assert sorted(frames[1].split(b" ")[0] for frames in replies) == [b"w1", b"w1", b"w2", b"w2"]


def test_a_worker_that_does_not_stop_is_named(context, monkeypatch):
    monkeypatch.setattr(routing_demo, "STOP_TIMEOUT_S", 0.5)
    stuck = threading.Event()

    def deaf_worker(context, address, answer, stop):  # looks at stop only once it is released
        stuck.wait(10)

    with (pytest.raises(routing_demo.NotStopped, match="deaf-1 was still running"),
          routing_demo.Workers(deaf_worker, context, "inproc://nobody", ["deaf-1"])):
        pass
    stuck.set()


def test_the_server_routes_each_reply_to_its_client_and_stops(context):
    with routing_demo.ThreadedServer(run_proxy, worker_loop, ["w1", "w2"]) as server:
        clients = [context.socket(zmq.REQ) for _ in range(3)]
        try:
            for number, client in enumerate(clients):
                client.linger = 0
                client.connect(server.address)
                client.send(f"client {number}".encode())
            answers = [routing_demo.receive(client) for client in clients]
        finally:
            for client in clients:
                client.close()
    assert [a[0].endswith(f"'client {n}'".encode()) for n, a in enumerate(answers)] == [True] * 3
    assert not server.alive() and server.context.closed


def test_a_proxy_that_leaves_a_socket_open_is_named(monkeypatch):
    monkeypatch.setattr(routing_demo, "STOP_TIMEOUT_S", 0.5)
    left: list[zmq.Socket] = []

    def leaky_proxy(context, frontend_address, backend_address):
        left.extend([context.socket(zmq.ROUTER), context.socket(zmq.DEALER)])
        left[0].bind(frontend_address)
        left[1].bind(backend_address)
        try:
            zmq.proxy(*left)
        except zmq.ContextTerminated:
            pass

    with (pytest.raises(routing_demo.NotStopped, match="still waiting for a socket"),
          routing_demo.ThreadedServer(leaky_proxy)):
        time.sleep(0.2)
    for socket in left:
        socket.close(linger=0)
