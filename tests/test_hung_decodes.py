"""Decodes that hang: the batcher gives one up exactly once when asked, the thread stuck in it
learns so (``DecodeAbandoned``) when, if ever, the decode returns, and no batch waits for it."""

from __future__ import annotations

import time

import numpy as np
import pytest

from fakes import ColourClassifier, SlowDecode
from model_server.serving.batching import Batcher, DecodeAbandoned

TIMEOUT_S = 0.2
#: Long enough that waiting for it by mistake could not hide inside a slow machine's noise.
LONG_DELAY_MS = 3000.0
PIXELS = np.zeros((224, 224, 3), np.uint8)


@pytest.fixture
def batcher():
    batcher = Batcher(ColourClassifier(seconds=0), max_batch=8, max_delay_ms=LONG_DELAY_MS)
    batcher.start()
    yield batcher
    batcher.stop()


@pytest.fixture
def hanging(batcher):
    """``hanging(fails=False)``: a decode that hangs until the test ends it (at teardown at the latest)."""
    decodes: list[SlowDecode] = []

    def start(fails: bool = False) -> SlowDecode:
        decodes.append(SlowDecode(batcher, PIXELS, fails=fails))
        return decodes[-1]

    yield start
    for decode in decodes:
        decode.finish()


def test_a_decode_past_the_timeout_is_given_up_once_and_its_thread_told(batcher, hanging):
    decode = hanging()
    assert batcher.abandon_overdue_decodes(TIMEOUT_S) == [], "given up before its time"
    time.sleep(TIMEOUT_S + 0.1)
    first, second = batcher.abandon_overdue_decodes(TIMEOUT_S), batcher.abandon_overdue_decodes(TIMEOUT_S)
    decode.finish()
    with pytest.raises(DecodeAbandoned):
        decode.result(timeout=5)
    assert (first, second) == ([decode.thread], [])
    time.sleep(0.2)
    assert batcher.batch_sizes == {}, "the pixels of a decode given up were run"


def test_a_batch_does_not_wait_for_a_decode_given_up(batcher, hanging):
    hanging()
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


def test_an_error_of_an_abandoned_decode_gives_way_to_decode_abandoned(batcher, hanging):
    """Its request is answered already: the thread must not answer it again with this error."""
    decode = hanging(fails=True)
    time.sleep(TIMEOUT_S + 0.1)
    assert batcher.abandon_overdue_decodes(TIMEOUT_S) == [decode.thread]
    decode.finish()
    with pytest.raises(DecodeAbandoned):
        decode.result(timeout=5)


def test_a_decode_given_up_counts_as_stuck_until_it_returns(batcher, hanging):
    """What ``/livez`` reads: a decode given up whose thread is still in it, and none after."""
    decode = hanging()
    assert batcher.still_stuck() == (0, 0), "a decode running within its time is not stuck"
    time.sleep(TIMEOUT_S + 0.1)
    batcher.abandon_overdue_decodes(TIMEOUT_S)
    stuck = batcher.still_stuck()
    decode.finish()
    with pytest.raises(DecodeAbandoned):
        decode.result(timeout=5)
    assert (stuck, batcher.still_stuck()) == ((0, 1), (0, 0))
