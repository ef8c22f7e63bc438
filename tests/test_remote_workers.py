"""Workers on other machines: worker processes join a broker's TCP backend and leave at any time.

Where a test needs only *a* model behind the workers, they run ResNet50 on OpenVINO, which starts
in a tenth of TensorFlow's time (``openvino_flags``); the first test mixes the two runtimes.
"""

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


def test_requests_reach_every_worker_in_turn_whatever_runs_its_model(broker, openvino_flags):
    """A TensorFlow worker and an OpenVINO one behind one broker: a GPU machine and a CPU one."""
    images = photo_jpegs(4)
    with start_remote_worker(broker, workers=2, name="test-worker-tensorflow") as a, \
            start_remote_worker(broker, workers=2, name="test-worker-openvino", extra_args=openvino_flags) as b:
        client = ModelClient(broker.address, timeout=60, retries=0)
        answered_by = {(reply.worker, reply.runtime)
                       for reply in (client.predict(images[i % 4]) for i in range(12))}
        client.close()
    assert {(name.rsplit(":", 1)[1], runtime) for name, runtime in answered_by} == {
        (str(a.pid), "tensorflow"), (str(b.pid), "openvino")}


def test_a_worker_can_join_and_leave_under_load(broker, openvino_flags):
    images = photo_jpegs(4)
    first = start_remote_worker(broker, workers=2, name="test-worker-first", extra_args=openvino_flags)
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
        second = start_remote_worker(broker, workers=2, name="test-worker-second", extra_args=openvino_flags)
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


def test_a_raw_dealer_sends_the_image_as_its_own_frame(broker, openvino_flags):
    image = photo_jpegs(1)[0]
    with start_remote_worker(broker, workers=1, name="test-worker-raw", extra_args=openvino_flags):
        with raw_dealer(broker.address) as dealer:
            dealer.send_multipart([b"", *encode_request_frames(image, top=2, request_id="raw")])
            assert dealer.poll(30_000), "no reply to a two-frame request"
            *_, frame = dealer.recv_multipart()
    reply = decode_reply(frame)
    assert reply.id == "raw" and len(reply.predictions) == 2
