"""Decoder threads: a decode that hangs is given up after the timeout, the caller carries on with a
fresh decoder thread, and no decoder thread outlives its reason to exist."""

from __future__ import annotations

import threading
import time

import pytest

from model_server.decoder_threads import DecoderThreads
from model_server.images import decode_image
from model_server.protocol import ErrorCode, RequestError

TIMEOUT_S = 0.3


@pytest.fixture
def release():
    """An event that hanging decodes wait for; set at teardown, so no decode hangs beyond the test."""
    event = threading.Event()
    yield event
    event.set()


def _wait_until(condition, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_decode_that_hangs_is_given_up_and_the_next_one_gets_a_fresh_thread(release):
    decoders = DecoderThreads(TIMEOUT_S)
    ran_on = []

    def hangs() -> None:
        ran_on.append(threading.current_thread())
        release.wait(60)

    def name_of_thread() -> threading.Thread:
        return threading.current_thread()

    started = time.monotonic()
    with pytest.raises(RequestError) as raised:
        decoders.run(hangs)
    waited = time.monotonic() - started
    fresh = decoders.run(name_of_thread)

    assert raised.value.code == ErrorCode.DECODE_TIMEOUT
    assert f"longer than {TIMEOUT_S:g} s" in raised.value.message
    assert TIMEOUT_S <= waited < TIMEOUT_S + 2
    assert fresh is not ran_on[0] and fresh.daemon
    assert ran_on[0].daemon, "a stuck non-daemon thread would keep the process from exiting"
    assert (decoders.abandoned, decoders.stuck) == (1, 1)
    release.set()
    assert _wait_until(lambda: not ran_on[0].is_alive()), "the abandoned thread did not exit"
    assert (decoders.abandoned, decoders.stuck) == (1, 0)


def test_what_the_decode_raises_reaches_the_caller():
    decoders = DecoderThreads(TIMEOUT_S)
    with pytest.raises(RequestError) as raised:
        decoders.run(decode_image, b"not an image at all")
    assert raised.value.code == ErrorCode.NOT_AN_IMAGE
    assert decoders.abandoned == 0


def test_each_calling_thread_has_its_own_decoder_thread_which_ends_with_it():
    decoders = DecoderThreads(TIMEOUT_S)
    decoder_of: dict[str, threading.Thread] = {}

    def call() -> None:
        decoder_of[threading.current_thread().name] = decoders.run(threading.current_thread)

    callers = [threading.Thread(target=call, name=f"caller-{index}") for index in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=5)

    first, second = decoder_of["caller-0"], decoder_of["caller-1"]
    assert first is not second
    assert _wait_until(lambda: not first.is_alive() and not second.is_alive()), \
        "a decoder thread outlived the worker thread it served"
