"""Workers on other machines: worker processes join a broker's TCP backend and leave at any time."""

from __future__ import annotations

import threading
import time

import pytest

from fakes import raw_dealer
from harness.launch import start_broker, start_remote_worker
from harness.sample_images import photo_jpegs
from model_server.client import ModelClient
from model_server.protocol import decode_reply, encode_request_frames


@pytest.fixture
def broker():
    with start_broker(name="test-broker") as broker:
        yield broker


def test_requests_reach_every_worker_in_turn(broker):
    images = photo_jpegs(4)
    with start_remote_worker(broker, workers=2, name="test-worker-a") as a, \
            start_remote_worker(broker, workers=2, name="test-worker-b") as b:
        client = ModelClient(broker.address, timeout=60, retries=0)
        answered_by = {client.predict(images[i % 4]).worker for i in range(12)}
        client.close()
    assert {name.rsplit(":", 1)[1] for name in answered_by} == {str(a.pid), str(b.pid)}


def test_a_worker_can_join_and_leave_under_load(broker):
    images = photo_jpegs(4)
    first = start_remote_worker(broker, workers=2, name="test-worker-first")
    client = ModelClient(broker.address, timeout=10, retries=3)
    expected = {i: client.predict(image).predictions[0].wnid for i, image in enumerate(images)}
    answers: list[tuple[int, str, str | None]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def load(index: int) -> None:
        while not stop.is_set():
            try:
                reply = client.predict(images[index])
            except BaseException as error:
                errors.append(error)
                return
            answers.append((index, reply.predictions[0].wnid, reply.worker))

    threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    second = None
    try:
        second = start_remote_worker(broker, workers=2, name="test-worker-second")
        _wait_for(answers, errors, more=8)
        first.stop()
        _wait_for(answers, errors, more=8)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        first.stop()
        if second is not None:
            second.stop()
        client.close()
    assert not errors, errors
    assert all(wnid == expected[index] for index, wnid, _ in answers), "a reply reached the wrong client"
    workers = [worker.rsplit(":", 1)[1] for _, _, worker in answers]
    assert str(second.pid) in workers, "the worker that joined got no work"
    assert workers[-4:] == [str(second.pid)] * 4, "work still went to the worker that left"


def _wait_for(answers: list, errors: list, more: int, timeout: float = 120.0) -> None:
    target = len(answers) + more
    deadline = time.monotonic() + timeout
    while len(answers) < target and not errors and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_raw_dealer_sends_the_image_as_its_own_frame(broker):
    image = photo_jpegs(1)[0]
    with start_remote_worker(broker, workers=1, name="test-worker-raw"):
        with raw_dealer(broker.address) as dealer:
            dealer.send_multipart([b"", *encode_request_frames(image, top=2, request_id="raw")])
            assert dealer.poll(30_000), "no reply to a two-frame request"
            *_, frame = dealer.recv_multipart()
    reply = decode_reply(frame)
    assert reply.id == "raw" and len(reply.predictions) == 2
