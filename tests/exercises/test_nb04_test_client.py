"""Checks of notebook 04's test client (``test_client.py``): the wire format and Lazy Pirate.

The flaky servers are real ROUTER sockets in a thread of this process: one drops the first
request, one never answers, one answers too late. Each polls with a timeout and is stopped after
its check, so a client that is not written yet, or that waits forever, fails and never hangs.
"""

from __future__ import annotations

import base64
import gc
import itertools
import json
import time
import warnings
from collections.abc import Callable

import pytest
import zmq

from harness.stubs import Later, ScriptedRouter, scripted_routers
from model_server.protocol import ErrorCode, ServerError, encode_error

IMAGE = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
TIMEOUT_S = 0.4


@pytest.fixture
def nb04(load_answers):
    return load_answers("test_client")


@pytest.fixture
def flaky():
    """``flaky(delay)``: a ROUTER in a thread that answers request n with ``{"attempt": n}`` after
    ``delay(n)`` seconds (``None``: never)."""
    with scripted_routers() as start:
        def start_flaky(delay: Callable[[int], float | None]) -> ScriptedRouter:
            numbers = itertools.count(1)

            def answer(request: list[bytes]) -> Later | None:
                n = next(numbers)
                seconds = delay(n)
                return None if seconds is None else Later(seconds, json.dumps({"attempt": n}).encode())

            return start(answer)

        yield start_flaky


def call(nb04, attempt, address, retries, answered=True):
    """The learner's request_with_retries, with the classic mistakes turned into hints.

    ``answered``: the server answers one of the attempts in time, so giving up is a mistake."""
    began = time.perf_counter()
    try:
        return attempt(nb04.request_with_retries, address, b'{"image": ""}', TIMEOUT_S, retries)
    except zmq.ZMQError as error:
        if error.errno != zmq.EFSM:
            raise
    except Exception as error:
        if not answered:
            raise
        seconds = time.perf_counter() - began
        if seconds < TIMEOUT_S:
            pytest.fail(
                f"request_with_retries gave up after {seconds:.3f} s ({error!r}), though each of its "
                f"attempts may wait timeout_s = {TIMEOUT_S:g} s and the server answered: poll() takes "
                "milliseconds, poll(timeout_s * 1000, zmq.POLLIN), not seconds", pytrace=False)
        pytest.fail(f"request_with_retries raised {error!r}, though the server answered an attempt "
                    "in time", pytrace=False)
    pytest.fail(
        "Operation cannot be accomplished in current state (EFSM): a REQ socket that got no reply "
        "will not send again. After a timeout, close it (linger=0) and open a fresh socket.",
        pytrace=False,
    )


def test_request_is_json_bytes_with_the_image_in_base64(nb04, attempt):
    frame = attempt(nb04.encode_request, IMAGE)
    assert isinstance(frame, bytes), f"return bytes (socket.send needs them), not {type(frame).__name__}"
    message = json.loads(frame)
    assert isinstance(message, dict) and isinstance(message.get("image"), str), (
        f'the request must be a JSON object with an "image" text string, not {message!r:.80}'
    )
    assert base64.b64decode(message["image"]) == IMAGE, '"image" must be the base64 of the image bytes themselves'


def test_read_reply_gives_labels_most_probable_first(nb04, attempt):
    reply = json.dumps({"predictions": [
        {"label": "lynx", "wnid": "n02127052", "probability": 0.05},
        {"label": "tabby", "wnid": "n02123045", "probability": 0.8},
        {"label": "tiger cat", "wnid": "n02123159", "probability": 0.15}]}).encode()
    top = attempt(nb04.read_reply, reply)
    assert top == [("tabby", 0.8), ("tiger cat", 0.15), ("lynx", 0.05)], (
        f"expected [(label, probability), ...] sorted by probability, most probable first; got {top!r}"
    )


def test_an_error_reply_raises_with_the_server_code_and_message(nb04, expect_raises):
    frame = encode_error(ErrorCode.NOT_AN_IMAGE, "the file is not an image Pillow can read")
    error = expect_raises(
        ServerError, 'an error reply has "error": {"code", "message"}: raise ServerError(code, message)',
        nb04.read_reply, frame)
    assert error.code == "not_an_image" and "Pillow" in error.message, (
        f"the ServerError should carry the server's code and message, not {error.code!r}, {error.message!r}"
    )


def test_a_dropped_request_is_sent_again_on_a_fresh_socket(nb04, attempt, flaky):
    server = flaky(lambda n: None if n == 1 else 0.0)
    reply = call(nb04, attempt, server.address, retries=2)
    assert json.loads(reply) == {"attempt": 2}, (
        f"the first request was dropped and the second answered; expected that answer, got {reply!r}"
    )


def test_a_server_that_never_answers_is_given_up_in_time(nb04, attempt, flaky):
    server = flaky(lambda n: None)
    began = time.perf_counter()
    try:
        result = call(nb04, attempt, server.address, retries=2, answered=False)
    except Exception as error:  # the clear error asked for
        result = error
    seconds = time.perf_counter() - began
    assert isinstance(result, Exception), f"nobody answered, yet request_with_retries returned {result!r}"
    time.sleep(0.1)
    assert len(server.received) == 3, (
        f"with retries=2 the server should have received 3 attempts, it received {len(server.received)}"
    )
    # 3 attempts of 0.4 s take 1.2 s; a 4th would make 1.6 s.
    assert seconds < 1.4, f"giving up took {seconds:.2f} s: wait at most timeout_s per attempt"
    assert seconds > 3 * TIMEOUT_S * 0.9, (
        f"gave up after {seconds:.3f} s, yet 3 attempts of timeout_s = {TIMEOUT_S:g} s take "
        f"{3 * TIMEOUT_S:g} s: poll() takes milliseconds, poll(timeout_s * 1000, zmq.POLLIN)"
    )
    assert "3" in str(result), f"the error should say how many attempts were made: {result!r}"


def test_a_late_reply_does_not_confuse_the_next_attempt(nb04, attempt, flaky):
    server = flaky(lambda n: 3 * TIMEOUT_S if n == 1 else 0.0)
    began = time.perf_counter()
    reply = call(nb04, attempt, server.address, retries=2)
    seconds = time.perf_counter() - began
    assert json.loads(reply) == {"attempt": 2}, (
        f"the first attempt's reply came after the timeout, the second at once; expected the "
        f"second's, got {reply!r}: stop waiting after timeout_s and send again"
    )
    # One timeout (0.4 s) then an immediate answer; waiting for the late one would take 1.2 s.
    assert seconds < 0.8, f"took {seconds:.2f} s: poll for at most timeout_s, then try again"


def test_the_socket_is_closed_after_a_reply_too(nb04, attempt, flaky):
    server = flaky(lambda n: 0.0)
    gc.collect()  # sockets other code left behind are closed before the count starts
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        reply = call(nb04, attempt, server.address, retries=2)
        gc.collect()
    assert json.loads(reply) == {"attempt": 1}, f"the server answered the first attempt at once, got {reply!r}"
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)
                and "zmq.REQ" in str(w.message)]
    assert not unclosed, (
        "request_with_retries returned the reply and left its REQ socket open (Python's garbage "
        "collector closed it later): close the socket after a reply too, not only after a timeout "
        "(try: ... finally: socket.close(linger=0))"
    )
