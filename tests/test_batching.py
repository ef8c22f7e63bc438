"""Dynamic batching: images that arrive together share a forward pass, and each gets its own answer.

These use the real (untrained, seeded) ResNet50: what matters is that batching never mixes up
whose probabilities are whose, and never makes a lone request wait for company.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from fakes import ColourClassifier, HangsOnce, SlowDecode, decoded_together
from harness.launch import start_model_server
from harness.sample_images import photo_jpegs
from model_server.client import ModelClient
from model_server.images import decode_image
from model_server.serving.batching import Batcher

#: Long enough that waiting for it by mistake could not hide inside a slow machine's noise.
LONG_DELAY_MS = 3000.0


@pytest.fixture(scope="module")
def pixels() -> list[np.ndarray]:
    return [decode_image(image) for image in photo_jpegs(6)]


@pytest.fixture
def batcher(untrained):
    batcher = Batcher(untrained, max_batch=8, max_delay_ms=LONG_DELAY_MS)
    batcher.start()
    yield batcher
    batcher.stop()


def test_a_lone_image_does_not_wait_for_company(batcher, pixels):
    began = time.perf_counter()
    result = batcher.submit(pixels[0]).result(timeout=30)
    assert result.batch_size == 1
    assert result.queued_ms < LONG_DELAY_MS / 3, "the batcher waited although nobody was coming"
    assert time.perf_counter() - began < LONG_DELAY_MS / 1000


def test_images_still_being_decoded_join_the_batch(batcher, pixels):
    first, second = SlowDecode(batcher, pixels[0]), SlowDecode(batcher, pixels[1])
    first.finish()
    time.sleep(0.2)
    second.finish()
    assert first.result().batch_size == 2
    assert second.result().batch_size == 2


def test_a_refused_image_stops_the_wait_for_it(batcher, pixels):
    decoded, refused = SlowDecode(batcher, pixels[0]), SlowDecode(batcher, pixels[1], fails=True)
    began = time.perf_counter()
    decoded.finish()
    time.sleep(0.2)
    refused.finish()
    with pytest.raises(ValueError):
        refused.result()
    assert decoded.result().batch_size == 1
    assert time.perf_counter() - began < LONG_DELAY_MS / 1000, "waited for the refused image"


def _answered_together(batcher: Batcher, pixels: list[np.ndarray]) -> int:
    return max(result.batch_size for result in decoded_together(batcher, pixels))


def test_the_clients_of_a_batch_are_waited_for_when_they_come_back(batcher, pixels):
    assert _answered_together(batcher, pixels[:3]) == 3
    first_back = batcher.submit(pixels[0])
    time.sleep(0.2)  # the other two clients are slower to send their next images
    later = [batcher.submit(image) for image in pixels[1:3]]
    assert first_back.result(timeout=30).batch_size == 3
    assert all(f.result(timeout=30).batch_size == 3 for f in later)


def test_a_lone_client_does_not_wait_after_its_own_answer(batcher, pixels):
    for image in pixels[:2]:
        result = batcher.submit(image).result(timeout=30)
        assert result.batch_size == 1
        assert result.queued_ms < LONG_DELAY_MS / 3, "waited for company after a batch of one"


def test_clients_that_do_not_come_back_are_waited_for_at_most_max_delay(untrained, pixels):
    batcher = Batcher(untrained, max_batch=8, max_delay_ms=300.0)
    batcher.start()
    try:
        assert _answered_together(batcher, pixels[:3]) == 3
        result = batcher.submit(pixels[0]).result(timeout=30)
    finally:
        batcher.stop()
    assert result.batch_size == 1
    assert 200.0 < result.queued_ms < LONG_DELAY_MS


def test_each_image_in_a_batch_gets_its_own_probabilities(batcher, untrained, pixels):
    alone = untrained.predict_batch(np.stack(pixels))
    results = decoded_together(batcher, pixels)
    assert max(r.batch_size for r in results) > 1
    for expected, result in zip(alone, results):
        np.testing.assert_allclose(result.probabilities, expected, atol=1e-5)


def test_no_batch_is_larger_than_max_batch(untrained, pixels):
    batcher = Batcher(untrained, max_batch=2, max_delay_ms=LONG_DELAY_MS)
    batcher.start()
    try:
        sizes = [result.batch_size for result in decoded_together(batcher, pixels)]
    finally:
        batcher.stop()
    assert max(sizes) == 2


def test_two_halves_of_the_clients_come_together_in_one_batch():
    """Half the clients queue while the other half's batch runs; then the batcher waits for that half."""
    images = [np.full((224, 224, 3), red, np.uint8) for red in range(8)]
    batcher = Batcher(ColourClassifier(seconds=1.0), max_batch=8, max_delay_ms=LONG_DELAY_MS)
    batcher.start()
    try:
        first_half = [SlowDecode(batcher, image) for image in images[:4]]
        for decode in first_half:
            decode.finish()
        time.sleep(0.3)  # the first half's forward pass is running
        second_half = [batcher.submit(image) for image in images[4:]]
        assert [decode.result().batch_size for decode in first_half] == [4] * 4
        time.sleep(0.1)  # the first half's clients take a moment to send their next images
        first_half_back = [batcher.submit(image) for image in images[:4]]
        sizes = [future.result(timeout=30).batch_size for future in second_half + first_half_back]
    finally:
        batcher.stop()
    assert sizes == [8] * 8, f"the two halves stayed apart: batch sizes {sizes}"


#: Requests each client sends in turn: enough for clients that start a batch out of step to fall
#: into step (with 3, the first batches' 1-2-5 pattern could last to the end on a busy machine).
ROUNDS = 6


def test_concurrent_clients_get_their_own_answers_from_a_batching_server():
    images = photo_jpegs(8)
    # A generous delay: a slow CI machine's decoding must not decide whether batches fill up.
    with start_model_server("random", workers=8, extra_args=("--max-batch", "8", "--max-delay-ms", "1000"),
                            name="test-batching-server") as server:
        client = ModelClient(server.address, timeout=60, retries=0)
        solo = {i: client.predict(image, top=5) for i, image in enumerate(images)}
        replies: dict[int, list] = {i: [] for i in range(len(images))}
        errors: list[BaseException] = []
        # All eight start together: a thread started late on a busy machine would otherwise send
        # its first image alone (a lone request never waits) and stay a batch out of step.
        start_together = threading.Barrier(len(images), timeout=60)

        def send(index: int) -> None:
            try:
                start_together.wait()
                for _ in range(ROUNDS):
                    replies[index].append(client.predict(images[index], top=5))
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(images))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        client.close()
    assert not errors
    batched = [r for answers in replies.values() for r in answers if r.batch > 1]
    assert batched, f"{8 * ROUNDS} concurrent requests never shared a forward pass"
    full = [r for answers in replies.values() for r in answers if r.batch == 8]
    assert len(full) >= 8, (
        "8 clients sending their next image on each reply never filled a batch of 8: "
        f"batch sizes {sorted(r.batch for answers in replies.values() for r in answers)}")
    for index, answers in replies.items():
        for reply in answers:
            assert [p.wnid for p in reply.predictions] == [p.wnid for p in solo[index].predictions]
            np.testing.assert_allclose(
                [p.probability for p in reply.predictions],
                [p.probability for p in solo[index].predictions], atol=1e-4,
            )


def test_an_image_whose_deadline_passed_is_dropped_unrun(batcher, pixels):
    from model_server.protocol import RequestError

    before = batcher.batch_sizes
    expired = batcher.submit(pixels[0], deadline=time.monotonic() - 1)
    with pytest.raises(RequestError) as raised:
        expired.result(timeout=30)
    assert raised.value.code.value == "deadline_exceeded"
    assert batcher.batch_sizes == before, "the model ran for an image nobody waits for"
    assert batcher.submit(pixels[1], deadline=time.monotonic() + 30).result(timeout=30).batch_size == 1


def test_a_hung_forward_pass_is_given_up_and_a_new_thread_takes_over(untrained, pixels):
    from model_server.protocol import RequestError

    hangs = HangsOnce(untrained)
    batcher = Batcher(hangs, max_batch=1, max_delay_ms=0)
    batcher.start()
    try:
        stuck = batcher.submit(pixels[0])
        queued = batcher.submit(pixels[1])
        time.sleep(0.3)
        assert not batcher.replace_if_hung(hang_timeout_s=60), "replaced a batch that is not hung"
        assert batcher.replace_if_hung(hang_timeout_s=0.1)
        with pytest.raises(RequestError) as raised:
            stuck.result(timeout=5)
        assert raised.value.code.value == "worker_lost"
        assert queued.result(timeout=30).batch_size == 1, "the new thread did not take the queue over"
        assert batcher.submit(pixels[2]).result(timeout=30).batch_size == 1
    finally:
        hangs.release.set()
        batcher.stop()
    assert batcher.replaced_threads == 1
