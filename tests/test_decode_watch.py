"""The decode watch: a decode running past the timeout is given up exactly once, and the thread
stuck in it learns so (``DecodeAbandoned``) when, if ever, the decode returns."""

from __future__ import annotations

import threading
import time

import pytest

from model_server.serving.decode_watch import DecodeAbandoned, DecodeWatch

TIMEOUT_S = 0.2


@pytest.fixture
def release():
    """What a hanging decode waits for; set at teardown, so no thread hangs beyond the test."""
    event = threading.Event()
    yield event
    event.set()


def test_a_decode_past_the_timeout_is_given_up_once_and_its_thread_told(release):
    watch = DecodeWatch()
    outcome: list[str] = []

    def decode_that_hangs() -> None:
        try:
            with watch.decoding():
                release.wait(60)
            outcome.append("returned as if nothing happened")
        except DecodeAbandoned:
            outcome.append("abandoned")

    thread = threading.Thread(target=decode_that_hangs, daemon=True)
    thread.start()
    assert watch.abandon_overdue(TIMEOUT_S) == [], "given up before its time"
    time.sleep(TIMEOUT_S + 0.1)
    first, second = watch.abandon_overdue(TIMEOUT_S), watch.abandon_overdue(TIMEOUT_S)
    release.set()
    thread.join(timeout=5)
    assert (first, second) == ([thread], [])
    assert outcome == ["abandoned"]


def test_a_decode_that_returns_in_time_is_left_alone():
    watch = DecodeWatch()
    with watch.decoding():
        pass
    time.sleep(TIMEOUT_S + 0.1)
    assert watch.abandon_overdue(TIMEOUT_S) == []
    with watch.decoding():  # nothing stale from the first decode
        pass


def test_an_error_of_an_abandoned_decode_gives_way_to_decode_abandoned(release):
    """Its request is answered already: the thread must not answer it again with this error."""
    watch = DecodeWatch()
    raised: list[BaseException] = []

    def decode_that_hangs_then_fails() -> None:
        try:
            with watch.decoding():
                release.wait(60)
                raise ValueError("corrupt image")
        except BaseException as error:
            raised.append(error)

    thread = threading.Thread(target=decode_that_hangs_then_fails, daemon=True)
    thread.start()
    time.sleep(TIMEOUT_S + 0.1)
    assert watch.abandon_overdue(TIMEOUT_S) == [thread]
    release.set()
    thread.join(timeout=5)
    assert [type(error) for error in raised] == [DecodeAbandoned]
