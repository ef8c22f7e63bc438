"""Checks for notebook 03's exercises: ``split_envelope`` and ``reply_to``, on plain frames and
on real sockets (a ROUTER and REQ clients on loopback TCP, and a ROUTER–DEALER proxy in between)."""

from __future__ import annotations

import pytest
import zmq

from lab.routing_demo import NoMessage, Proxy, loopback_endpoint, receive

#: Seconds a REQ waits for its reply: the sockets are local, but a reply a REQ drops never comes.
REPLY_TIMEOUT_S = 1.0


@pytest.fixture
def nb03(load_answers):
    return load_answers("nb03_routing")


@pytest.fixture
def context():
    return zmq.Context.instance()


@pytest.fixture
def open_socket(context):
    """``open_socket(zmq.REQ)``: a socket with LINGER 0, closed after the check."""
    opened: list[zmq.Socket] = []

    def make(kind: int, identity: bytes | None = None) -> zmq.Socket:
        socket = context.socket(kind)
        socket.linger = 0
        if identity is not None:
            socket.setsockopt(zmq.IDENTITY, identity)
        opened.append(socket)
        return socket

    yield make
    for socket in opened:
        socket.close()


def _hint_for(reply: object, request: list[bytes]) -> str:
    """What is wrong with a reply built for ``request`` (identities, b"", body)."""
    if not isinstance(reply, list) or not all(isinstance(f, bytes) for f in reply):
        return f"return a list of bytes frames, not {reply!r}"
    envelope = request[:request.index(b"") + 1]
    if b"" not in reply:
        return "the empty delimiter is missing: a REQ socket drops a reply without it"
    if reply[:len(envelope) - 1] != envelope[:-1]:
        return ("the identity frames are not the request's, in its order: the ROUTER sends the reply "
                "to whoever the first frame names, and the frames after it are for the hops behind")
    if len(reply) != len(envelope) + 1:
        return "after the envelope comes the body alone: one frame, the last"
    return "the body should be the last frame"


def _request_and_reply(nb03, attempt, frames: list[bytes], body: bytes) -> None:
    reply = attempt(nb03.reply_to, frames, body)
    expected = [*frames[:frames.index(b"") + 1], body]
    assert reply == expected, f"reply_to({frames!r}, {body!r}) returned {reply!r}: {_hint_for(reply, frames)}"


def test_reply_to_keeps_the_identity_and_the_delimiter_and_puts_the_body_last(nb03, attempt):
    _request_and_reply(nb03, attempt, [b"client-a", b"", b"hello"], b"hi, client-a")
    _request_and_reply(nb03, attempt, [b"\x00k\x8bEg", b"", b"hello"], b"hi")


def test_reply_to_keeps_an_envelope_of_several_hops_whole(nb03, attempt):
    _request_and_reply(nb03, attempt, [b"\x00\x80\x00\x00\x01", b"client-a", b"", b"hello"], b"hi")
    _request_and_reply(nb03, attempt, [b"hop-3", b"hop-2", b"hop-1", b"", b"hello"], b"hi")


def _ask(client: zmq.Socket, router: zmq.Socket, nb03, attempt, body: bytes) -> list[bytes]:
    client.send(body)
    frames = receive(router, REPLY_TIMEOUT_S)
    router.send_multipart(attempt(nb03.reply_to, frames, b"answer to " + body))
    return frames


def _answer_or_hint(client: zmq.Socket, nb03, frames: list[bytes], nothing_came: str) -> list[bytes]:
    """The client's reply, or the check fails saying ``nothing_came`` and what is wrong with the
    reply ``reply_to`` builds for ``frames``."""
    try:
        return receive(client, REPLY_TIMEOUT_S)
    except NoMessage:
        pytest.fail(f"{nothing_came}: {_hint_for(nb03.reply_to(frames, b'x'), frames)}", pytrace=False)


def test_a_req_socket_gets_the_reply_built_by_reply_to(nb03, attempt, open_socket):
    router = open_socket(zmq.ROUTER)
    client = open_socket(zmq.REQ)
    client.connect(loopback_endpoint(router))
    frames = _ask(client, router, nb03, attempt, b"hello")
    answer = _answer_or_hint(client, nb03, frames, f"the REQ socket got no reply in {REPLY_TIMEOUT_S:g} s")
    assert answer == [b"answer to hello"], f"the REQ socket received {answer!r}: put the body last"


def test_two_clients_each_get_their_own_answer(nb03, attempt, open_socket):
    router = open_socket(zmq.ROUTER)
    endpoint = loopback_endpoint(router)
    named, anonymous = open_socket(zmq.REQ, identity=b"client-a"), open_socket(zmq.REQ)
    for client in (named, anonymous):
        client.connect(endpoint)
    named.send(b"from a")
    anonymous.send(b"from b")
    received = [receive(router, REPLY_TIMEOUT_S) for _ in range(2)]
    for frames in reversed(received):  # answered in the other order: routing, not luck
        router.send_multipart(attempt(nb03.reply_to, frames, b"answer to " + frames[-1]))
    for client, body in ((named, b"from a"), (anonymous, b"from b")):
        answer = _answer_or_hint(client, nb03, received[0], "a client got no reply")
        assert answer == [b"answer to " + body], (
            f"the client that sent {body!r} received {answer!r}: keep the request's own identity frame")


def test_a_reply_finds_its_way_back_through_a_proxy(nb03, attempt, context, open_socket):
    with Proxy(context) as proxy:
        worker = open_socket(zmq.ROUTER)  # a ROUTER behind the proxy sees two identity frames
        worker.connect(proxy.backend)
        client = open_socket(zmq.REQ, identity=b"client-a")
        client.connect(proxy.address)
        frames = _ask(client, worker, nb03, attempt, b"hello")
        assert len(frames) == 4, f"expected two identities, the delimiter and the body, got {frames!r}"
        answer = _answer_or_hint(client, nb03, frames, "the reply never came back through the proxy")
        assert answer == [b"answer to hello"], f"the client received {answer!r}"


def test_split_envelope_separates_identities_from_the_body(nb03, attempt):
    cases = {
        (b"client-a", b"", b"hello"): ([b"client-a"], [b"hello"]),
        (b"hop-2", b"hop-1", b"", b"hello"): ([b"hop-2", b"hop-1"], [b"hello"]),
        (b"", b"hello"): ([], [b"hello"]),
        (b"client-a", b"", b"header", b"image"): ([b"client-a"], [b"header", b"image"]),
    }
    for frames, expected in cases.items():
        result = attempt(nb03.split_envelope, list(frames))
        got = tuple(list(part) for part in result) if isinstance(result, tuple) else result
        assert got == expected, (
            f"split_envelope({list(frames)!r}) returned {result!r}, expected {expected!r}: the "
            "identities are the frames before the first empty one, the body every frame after it, "
            "and the empty frame belongs to neither")


def test_split_envelope_refuses_frames_without_a_delimiter(nb03, expect_raises):
    error = expect_raises(ValueError, "with no empty frame there is no envelope: raise ValueError",
                          nb03.split_envelope, [b"client-a", b"hello"])
    assert str(error), "say in the ValueError what is missing"


def test_split_envelope_reads_what_a_router_received(nb03, attempt, open_socket):
    router = open_socket(zmq.ROUTER)
    client = open_socket(zmq.REQ, identity=b"client-a")
    client.connect(loopback_endpoint(router))
    client.send(b"hello")
    identities, body = attempt(nb03.split_envelope, receive(router, REPLY_TIMEOUT_S))
    assert list(identities) == [b"client-a"] and list(body) == [b"hello"], (
        f"from a REQ named client-a, expected ([b'client-a'], [b'hello']), got ({identities!r}, {body!r})")
