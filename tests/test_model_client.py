"""ModelClient never hangs: timeouts and Lazy Pirate retries, a server that is down, thread safety.

These tests need no TensorFlow: the server they talk to is either a real ZeroMQ ROUTER that never
answers, or the real ``ModelServer`` (ROUTER, DEALER, workers) in a thread of this process, with a
stand-in classifier that "recognises" an image by its colour so every reply shows which image it
answers.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import imagegen
from fakes import ColourClassifier, in_process_model_server, red_image
from harness.sample_images import NOT_AN_IMAGE
from model_server.client import ModelClient, ModelServerTimeout, ModelServerUnavailable
from model_server.protocol import (
    ServerError,
    ServerInfo,
    decode_request,
    encode_server_info,
)


def colour_model_server(address: str | None = None):
    """The real ``ModelServer`` in a thread with the colour stand-in, two workers."""
    return in_process_model_server(ColourClassifier(), address, workers=2, drain_seconds=1.0)


@pytest.fixture
def colour_server():
    with colour_model_server() as address:
        yield address


# --- timeouts and retries ------------------------------------------------------------------------


@pytest.mark.parametrize("retries", [0, 2])
def test_silent_server_times_out_after_every_retry(silent_server, retries):
    timeout = 0.3
    client = ModelClient(silent_server.address, timeout=timeout, retries=retries)
    started = time.monotonic()
    with pytest.raises(ModelServerTimeout) as caught:
        client.predict(imagegen.one_pixel_png())
    elapsed = time.monotonic() - started
    client.close()

    expected = timeout * (1 + retries)
    assert expected * 0.95 <= elapsed < expected + 1.0
    assert f"{1 + retries} attempts" in caught.value.message
    deadline = time.monotonic() + 1
    while len(silent_server.received) < 1 + retries and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(silent_server.received) == 1 + retries
    ids = {json.loads(request[0])["id"] for request in silent_server.received}
    assert len(ids) == 1, "a retry sends the same request again"


def test_nothing_listening_is_unavailable_quickly(dead_address):
    client = ModelClient(dead_address, timeout=30, retries=2, connect_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(ModelServerUnavailable) as caught:
        client.predict(imagegen.one_pixel_png())
    assert time.monotonic() - started < 2.0, "a server that is down is not waited for like a slow one"
    assert dead_address in caught.value.message
    assert caught.value.code == "unavailable"
    client.close()


def test_client_recovers_when_its_server_starts_later(dead_address):
    client = ModelClient(dead_address, timeout=5, retries=1, connect_timeout=0.5)
    with pytest.raises(ModelServerUnavailable):
        client.ping()
    try:
        with colour_model_server(dead_address):
            assert client.ping().model == "colour-stand-in"
            assert client.predict(red_image(42)).predictions[0].label == "red 42"
    finally:
        client.close()


@pytest.fixture
def forgetful_server(scripted_server):
    """``forgetful_server(forget)``: drops the first ``forget`` requests, answers pings after that."""

    def make(forget: int):
        def answer(request: list[bytes]) -> bytes | None:
            if len(server.received) <= forget:
                return None
            return encode_server_info(ServerInfo("forgetful", "none", 1, id=decode_request(request[0]).id))

        server = scripted_server(answer)
        return server

    return make


def test_lost_request_is_answered_on_retry(forgetful_server):
    server = forgetful_server(forget=1)
    with ModelClient(server.address, timeout=0.3, retries=1) as client:
        assert client.ping().model == "forgetful"
    assert len(server.received) == 2


def test_next_request_after_a_timeout_is_answered(forgetful_server):
    """The socket stuck waiting for the lost reply is thrown away, not reused (Lazy Pirate)."""
    server = forgetful_server(forget=1)
    with ModelClient(server.address, timeout=0.3, retries=0) as client:
        with pytest.raises(ModelServerTimeout):
            client.ping()
        assert client.ping().model == "forgetful"


# --- replies -------------------------------------------------------------------------------------


def test_predict_returns_the_servers_answer(colour_server):
    with ModelClient(colour_server, timeout=5) as client:
        reply = client.predict(red_image(17), top=2)
    assert [p.label for p in reply.predictions] == ["red 17", reply.predictions[1].label]
    assert reply.predictions[0].probability == 1.0
    assert (reply.model, reply.weights) == ("colour-stand-in", "stand-in")


def test_server_refusal_raises_server_error_with_its_code(colour_server):
    with ModelClient(colour_server, timeout=5) as client:
        with pytest.raises(ServerError) as caught:
            client.predict(NOT_AN_IMAGE)
        assert caught.value.code == "not_an_image"
        assert client.predict(red_image(3)).predictions[0].label == "red 3"


def test_reply_to_another_request_is_not_accepted(scripted_server):
    """A server that mixes up replies is caught, not believed."""

    def answer_with_the_wrong_id(request: list[bytes]) -> bytes:
        return encode_server_info(ServerInfo("m", "w", 1, id=f"not-{decode_request(request[0]).id}"))

    with ModelClient(scripted_server(answer_with_the_wrong_id).address, timeout=5, retries=0) as client:
        with pytest.raises(ServerError) as caught:
            client.ping()
    assert caught.value.code == "mismatched_reply"


def test_closed_client_refuses_new_requests(colour_server):
    client = ModelClient(colour_server)
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.ping()


# --- threads -------------------------------------------------------------------------------------


def test_threads_sharing_one_client_each_get_their_own_reply(colour_server):
    client = ModelClient(colour_server, timeout=10, retries=0)
    threads, per_thread = 24, 5
    start = threading.Barrier(threads)

    def classify(thread_index: int) -> list[tuple[int, str]]:
        start.wait()
        answers = []
        for request in range(per_thread):
            red = (thread_index * per_thread + request) % 256
            answers.append((red, client.predict(red_image(red)).predictions[0].label))
        return answers

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(classify, range(threads)))
    client.close()

    answers = [answer for thread_answers in results for answer in thread_answers]
    assert len(answers) == threads * per_thread
    assert all(label == f"red {red}" for red, label in answers), [
        (red, label) for red, label in answers if label != f"red {red}"
    ]


def test_every_request_tells_the_server_how_long_the_client_waits(forgetful_server):
    server = forgetful_server(forget=0)
    with ModelClient(server.address, timeout=0.7, retries=0) as client:
        client.ping()
    assert json.loads(server.received[0][0])["deadline_ms"] == 700


def test_a_deadline_exceeded_answer_is_retried_like_a_timeout(scripted_server):
    """The server gave up on the first attempt just as the client was about to."""
    from model_server.protocol import ErrorCode, encode_error

    def answer(request: list[bytes]) -> bytes:
        request_id = decode_request(request[0]).id
        if len(server.received) == 1:
            return encode_error(ErrorCode.DEADLINE_EXCEEDED, "too late", request_id)
        return encode_server_info(ServerInfo("patient", "none", 1, id=request_id))

    server = scripted_server(answer)
    with ModelClient(server.address, timeout=2, retries=1) as client:
        assert client.ping().model == "patient"
    with ModelClient(server.address, timeout=2, retries=0) as client:
        server.received.clear()
        with pytest.raises(ModelServerTimeout):
            client.ping()
