"""``harness.stubs.ScriptedRouter``, the stand-in model server of the tests and the CURVE benchmark."""

from __future__ import annotations

import time

import pytest
import zmq

from harness.stubs import Later, ScriptedRouter

#: Milliseconds a client here waits for a reply that should come.
REPLY_TIMEOUT_MS = 5000


@pytest.fixture
def dealer():
    """``dealer(address)``: a DEALER connected there, closed after the test."""
    sockets = []

    def connect(address: str) -> zmq.Socket:
        socket = zmq.Context.instance().socket(zmq.DEALER)
        socket.linger = 0
        socket.connect(address)
        sockets.append(socket)
        return socket

    yield connect
    for socket in sockets:
        socket.close()


def test_each_request_gets_what_the_script_says_in_its_own_time(dealer):
    def answer(request: list[bytes]) -> bytes | Later | None:
        return {b"late": Later(0.5, b"late reply"), b"now": b"reply now"}.get(request[0])

    with ScriptedRouter(answer) as server:
        late, now, dropped = (dealer(server.address) for _ in range(3))
        late.send_multipart([b"", b"late"])
        began = time.monotonic()
        now.send_multipart([b"", b"now"])
        dropped.send_multipart([b"", b"drop me", b"raw image"])
        assert now.poll(REPLY_TIMEOUT_MS) and now.recv_multipart() == [b"", b"reply now"]
        assert time.monotonic() - began < 0.4, "a later reply held up one due at once"
        assert late.poll(REPLY_TIMEOUT_MS) and late.recv_multipart() == [b"", b"late reply"]
        assert time.monotonic() - began >= 0.45
        assert not dropped.poll(300), "a request the script answers None was answered"
        assert sorted(server.received) == [[b"drop me", b"raw image"], [b"late"], [b"now"]]


def test_a_socket_that_cannot_be_configured_fails_in_the_caller():
    def refuse(socket: zmq.Socket) -> None:
        raise ValueError("no keys")

    with pytest.raises(ValueError, match="no keys"):
        ScriptedRouter(configure=refuse)
