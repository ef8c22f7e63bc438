"""Decodes that hang: the batcher gives one up exactly once when asked, the thread stuck in it
learns so (``DecodeAbandoned``) when, if ever, the decode returns, and no batch waits for it."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from fakes import ColourClassifier
from model_server.serving.batching import Batcher, DecodeAbandoned

TIMEOUT_S = 0.2
#: Long enough that waiting for it by mistake could not hide inside a slow machine's noise.
LONG_DELAY_MS = 3000.0
PIXELS = np.zeros((224, 224, 3), np.uint8)


@pytest.fixture
def release():
    """What a hanging decode waits for; set at teardown, so no thread hangs beyond the test."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def batcher():
    batcher = Batcher(ColourClassifier(seconds=0), max_batch=8, max_delay_ms=LONG_DELAY_MS)
    batcher.start()
    yield batcher
    batcher.stop()


def _decode_in_a_thread(batcher: Batcher, decode) -> tuple[threading.Thread, list]:
    """Run ``decode`` through ``decode_and_submit`` in a new thread; the list gets what came of it."""
    outcome: list = []
    started = threading.Event()

    def work() -> None:
        def announced_decode():
            started.set()
            return decode()
        try:
            batcher.decode_and_submit(announced_decode)
            outcome.append("queued as if nothing happened")
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    started.wait(10)
    return thread, outcome


def test_a_decode_past_the_timeout_is_given_up_once_and_its_thread_told(batcher, release):
    def decode_that_hangs():
        release.wait(60)
        return PIXELS

    thread, outcome = _decode_in_a_thread(batcher, decode_that_hangs)
    assert batcher.abandon_overdue_decodes(TIMEOUT_S) == [], "given up before its time"
    time.sleep(TIMEOUT_S + 0.1)
    first, second = batcher.abandon_overdue_decodes(TIMEOUT_S), batcher.abandon_overdue_decodes(TIMEOUT_S)
    release.set()
    thread.join(timeout=5)
    assert (first, second) == ([thread], [])
    assert [type(what) for what in outcome] == [DecodeAbandoned]
    time.sleep(0.2)
    assert batcher.batch_sizes == {}, "the pixels of a decode given up were run"


def test_a_batch_does_not_wait_for_a_decode_given_up(batcher, release):
    _decode_in_a_thread(batcher, lambda: release.wait(60))
    time.sleep(TIMEOUT_S + 0.1)
    batcher.abandon_overdue_decodes(TIMEOUT_S)
    result = batcher.submit(PIXELS).result(timeout=30)
    assert result.batch_size == 1
    assert result.queued_ms < LONG_DELAY_MS / 3, "the batch waited for an image that will not come"


def test_a_decode_that_returns_in_time_is_left_alone(batcher):
    assert batcher.decode_and_submit(lambda: PIXELS).result(timeout=30).batch_size == 1
    time.sleep(TIMEOUT_S + 0.1)
    assert batcher.abandon_overdue_decodes(TIMEOUT_S) == []
    assert batcher.decode_and_submit(lambda: PIXELS).result(timeout=30).batch_size == 1


def test_an_error_of_an_abandoned_decode_gives_way_to_decode_abandoned(batcher, release):
    """Its request is answered already: the thread must not answer it again with this error."""
    def decode_that_hangs_then_fails():
        release.wait(60)
        raise ValueError("corrupt image")

    thread, outcome = _decode_in_a_thread(batcher, decode_that_hangs_then_fails)
    time.sleep(TIMEOUT_S + 0.1)
    assert batcher.abandon_overdue_decodes(TIMEOUT_S) == [thread]
    release.set()
    thread.join(timeout=5)
    assert [type(what) for what in outcome] == [DecodeAbandoned]
