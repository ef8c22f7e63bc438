"""Faults: remote workers that die or hang, and what the broker does with the requests they held.

Real processes throughout: a broker (``--workers 0``), remote worker processes killed with
SIGKILL or frozen with SIGSTOP, raw DEALER clients that see every reply that arrives. The workers
run ResNet50 on OpenVINO, which starts in a tenth of TensorFlow's time (``openvino_flags``).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
import zmq

from fakes import ColourClassifier, HangsOnce, in_process_model_server, red_image
from harness.launch import start_broker, start_remote_worker
from harness.sample_images import photo_jpegs
from model_server.client import ModelClient
from model_server.protocol import ServerError, encode_request_frames

#: Heartbeats in these tests: a dead worker is noticed after 0.3 s × 3.
HEARTBEAT_ARGS = ("--heartbeat-interval-s", "0.3", "--heartbeat-liveness", "3")
#: Seconds within which every request held by a lost worker must be answered.
ANSWER_BOUND_S = 30.0
IMAGE = photo_jpegs(1)[0]


@pytest.fixture(scope="module")
def worker_args(openvino_flags) -> tuple[str, ...]:
    """A remote worker's flags here: the short heartbeats, and ResNet50 on OpenVINO."""
    return (*HEARTBEAT_ARGS, *openvino_flags)


@pytest.fixture
def context():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def dealer(context: zmq.Context, address: str) -> zmq.Socket:
    socket = context.socket(zmq.DEALER)
    socket.linger = 0
    socket.connect(address)
    return socket


def send_predict(socket: zmq.Socket, request_id: str, deadline_ms: int | None = None) -> None:
    frames = encode_request_frames(IMAGE, top=1, request_id=request_id)
    if deadline_ms is not None:
        header = json.loads(frames[0])
        header["deadline_ms"] = deadline_ms
        frames[0] = json.dumps(header).encode()
    socket.send_multipart([b"", *frames])


def receive(socket: zmq.Socket, timeout_s: float = ANSWER_BOUND_S) -> dict:
    assert socket.poll(timeout_s * 1000), f"no answer within {timeout_s} s"
    return json.loads(socket.recv_multipart()[-1])


def test_requests_lost_with_a_killed_worker_do_not_fill_the_queue(context, worker_args):
    """The broker once counted lost requests as in flight forever: after --max-queue of them,
    every request was answered "busy". Now each lost request is answered and its slot freed."""
    with start_broker(name="test-leak-broker", extra_args=("--max-queue", "2", *HEARTBEAT_ARGS)) as broker:
        victim = start_remote_worker(broker, workers=2, name="test-leak-victim", extra_args=worker_args)
        try:
            os.kill(victim.pid, signal.SIGSTOP)  # it holds whatever it is sent from now on
            held = [dealer(context, broker.address) for _ in range(2)]
            for index, socket in enumerate(held):
                send_predict(socket, f"held-{index}")
            time.sleep(0.5)
            os.kill(victim.pid, signal.SIGKILL)
        finally:
            victim.stop()
        with start_remote_worker(broker, workers=2, name="test-leak-survivor", extra_args=worker_args):
            answers = [receive(socket) for socket in held]
            with ModelClient(broker.address, timeout=ANSWER_BOUND_S, retries=0) as client:
                replies = [client.predict(IMAGE) for _ in range(3)]
    assert [a["id"] for a in answers] == ["held-0", "held-1"]
    assert all("predictions" in a or a["error"]["code"] == "worker_lost" for a in answers), answers
    assert all(reply.predictions for reply in replies)


@pytest.mark.parametrize("fault", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "frozen"])
def test_requests_held_by_a_lost_worker_are_sent_to_another_one(context, fault, worker_args):
    with start_broker(name="test-lost-broker", extra_args=HEARTBEAT_ARGS) as broker, \
            start_remote_worker(broker, workers=2, name="test-lost-survivor", extra_args=worker_args), \
            start_remote_worker(broker, workers=2, name="test-lost-victim", extra_args=worker_args) as victim:
        with ModelClient(broker.address, timeout=ANSWER_BOUND_S, retries=0) as client:
            before = client.stats()
            os.kill(victim.pid, signal.SIGSTOP)  # so that it surely holds what it is sent
            sockets = [dealer(context, broker.address) for _ in range(4)]
            for index, socket in enumerate(sockets):
                send_predict(socket, f"r{index}")
            time.sleep(0.2)
            if fault == signal.SIGKILL:
                os.kill(victim.pid, signal.SIGKILL)
            answers = [receive(socket) for socket in sockets]
            after = client.stats()
            assert client.predict(IMAGE).predictions, "the broker stopped serving"
        if fault == signal.SIGSTOP:
            os.kill(victim.pid, signal.SIGCONT)
    assert [a["id"] for a in answers] == ["r0", "r1", "r2", "r3"]
    assert all("predictions" in a for a in answers), answers
    assert [w.kind for w in before.workers] == ["remote", "remote"]
    assert all(w.last_heartbeat_s < 0.3 * 3 for w in before.workers)
    assert after.workers_lost == 1 and after.retries >= 1
    assert len(after.workers) == 1, "the lost worker is still given work"


def test_a_late_reply_never_reaches_the_next_request_on_the_same_socket(context, openvino_flags):
    """The client gives up (its deadline passes) while the only worker is frozen; the worker then
    computes the request after all, and its reply must not be taken for the next request's."""
    patient = ("--heartbeat-interval-s", "0.3", "--heartbeat-liveness", "30")
    with start_broker(name="test-late-broker", extra_args=patient) as broker, \
            start_remote_worker(broker, workers=1, name="test-late-worker",
                                extra_args=(*patient, *openvino_flags)) as worker:
        socket = dealer(context, broker.address)
        with ModelClient(broker.address, timeout=ANSWER_BOUND_S) as client:
            before = client.stats()
        os.kill(worker.pid, signal.SIGSTOP)
        try:
            send_predict(socket, "given-up", deadline_ms=300)
            expired = receive(socket, timeout_s=5)
        finally:
            os.kill(worker.pid, signal.SIGCONT)
        send_predict(socket, "next", deadline_ms=30_000)
        following = receive(socket)
        assert not socket.poll(1000), f"a second reply arrived: {socket.recv_multipart()[-1][:200]!r}"
        with ModelClient(broker.address, timeout=ANSWER_BOUND_S) as client:
            stats = client.stats()
    assert (expired["id"], expired["error"]["code"]) == ("given-up", "deadline_exceeded")
    assert following["id"] == "next" and following["predictions"]
    # (Readiness pings that waited for the worker to load expired too, before.)
    assert stats.errors["deadline_exceeded"] == before.errors.get("deadline_exceeded", 0) + 1
    assert stats.late_replies == before.late_replies + 1, "the dropped reply is counted"
    assert stats.workers_lost == 0


def test_a_request_whose_client_gave_up_is_not_computed(context, openvino_flags):
    """With the only worker thread busy, a request with a short deadline waits in the broker,
    expires there, and never reaches the model: the batch counts show one forward pass, not two."""
    from harness.launch import start_model_server

    with start_model_server("random", workers=1, extra_args=("--max-batch", "1", *openvino_flags),
                            name="test-deadline-server") as server:
        with ModelClient(server.address, timeout=ANSWER_BOUND_S) as client:
            client.predict(IMAGE)
            before = client.stats()
            socket = dealer(context, server.address)
            send_predict(socket, "computed")
            send_predict(socket, "given-up", deadline_ms=10)
            answers = {a["id"]: a for a in (receive(socket), receive(socket))}
            after = client.stats()
    assert answers["computed"]["predictions"]
    assert answers["given-up"]["error"]["code"] == "deadline_exceeded"
    assert sum(after.batch_sizes.values()) == sum(before.batch_sizes.values()) + 1
    assert after.errors.get("deadline_exceeded", 0) == before.errors.get("deadline_exceeded", 0) + 1
    assert after.queue_depth == 0


def test_a_worker_finds_its_broker_again_after_a_restart(worker_args):
    from harness.processes import free_port

    ports = {"port": free_port(), "backend_port": free_port()}
    first = start_broker(name="test-restart-broker", extra_args=HEARTBEAT_ARGS, **ports)
    try:
        with start_remote_worker(first, workers=1, name="test-restart-worker", extra_args=worker_args) as worker:
            first.stop()
            time.sleep(1.5)  # the worker misses the broker's heartbeats and starts reconnecting
            with start_broker(name="test-restart-broker", extra_args=HEARTBEAT_ARGS, **ports) as second:
                with ModelClient(second.address, timeout=5, retries=6) as client:
                    reply = client.predict(IMAGE)
            log = worker.log_tail(100)
    finally:
        first.stop()
    assert reply.worker.rsplit(":", 1)[1] == str(worker.pid)
    assert "reconnecting" in log, log


def test_a_hung_forward_pass_in_the_server_is_answered_and_the_server_keeps_serving(untrained):
    """The in-process workers: a forward pass that hangs (a classifier that hangs once) is given
    up after --hang-timeout-s; its request is answered worker_lost, the next one normally."""
    hangs = HangsOnce(untrained)
    try:
        with in_process_model_server(hangs, workers=2, max_batch=1, hang_timeout_s=1.0) as address:
            # The hang lasts until released (60 s at most): an answer within the client's 10 s
            # can only come from the supervisor.
            with ModelClient(address, timeout=10, retries=0) as client:
                with pytest.raises(ServerError) as raised:
                    client.predict(IMAGE)
                reply = client.predict(IMAGE)
                stats = client.stats()
    finally:
        hangs.release.set()
    assert raised.value.code == "worker_lost"
    assert "within 1 s" in raised.value.message
    assert reply.predictions
    assert stats.errors == {"worker_lost": 1}
    assert [(w.kind, w.capacity) for w in stats.workers] == [("local", 2)]


class DiesOnce(HangsOnce):
    """The real classifier, except that the first thread to read its predictions dies."""

    def __init__(self, classifier):
        super().__init__(classifier)
        self.release.set()  # no hang
        self._died = False

    def top_predictions(self, probabilities, top):
        if not self._died:
            self._died = True
            raise SystemExit("a worker thread dies")
        return super().top_predictions(probabilities, top)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_worker_thread_that_dies_is_replaced_and_its_request_answered(untrained):
    with in_process_model_server(DiesOnce(untrained), workers=1, max_batch=1) as address:
        with ModelClient(address, timeout=10, retries=0) as client:
            with pytest.raises(ServerError) as raised:
                client.predict(IMAGE)
            # The only worker thread died: this answer comes from its replacement.
            reply = client.predict(IMAGE)
    assert raised.value.code == "internal" and "died" in raised.value.message
    assert reply.predictions


#: The colour of the image whose decoding hangs in the tests below.
HANGING_RED = 13


@pytest.fixture
def hanging_decode(monkeypatch):
    """The workers' decoder hangs on ``red_image(HANGING_RED)`` until the test is over (a real
    Pillow decode that hangs cannot be made on demand); other images decode as usual. Yields an
    event set when the hanging decode has begun."""
    from model_server.serving import request_handler

    decode_image = request_handler.decode_image
    hanging, began, release = red_image(HANGING_RED), threading.Event(), threading.Event()

    def decode(data: bytes, *args, **kwargs):
        if data == hanging:
            began.set()
            release.wait(60)
        return decode_image(data, *args, **kwargs)

    monkeypatch.setattr(request_handler, "decode_image", decode)
    yield began
    release.set()


def send_image(socket: zmq.Socket, image: bytes, request_id: str) -> None:
    header, raw = encode_request_frames(image, top=1, request_id=request_id, deadline_ms=10_000)
    socket.send_multipart([b"", header, raw])


def test_a_decode_that_hangs_is_answered_and_the_worker_keeps_serving(context, hanging_decode, caplog):
    """Two worker threads: the broker hands them requests round robin, so while one is stuck in
    a decode, some of the others are queued to it. The stuck decode is answered decode_timeout
    after --hang-timeout-s; every other request, then and afterwards, gets its predictions; and
    the server stops at once although the abandoned worker thread is still stuck."""
    with in_process_model_server(ColourClassifier(), workers=2, hang_timeout_s=1.0) as address:
        socket = dealer(context, address)
        sent = time.monotonic()
        send_image(socket, red_image(HANGING_RED), "hangs")
        assert hanging_decode.wait(10), "the hanging image was never decoded"
        for red in range(4):
            send_image(socket, red_image(red), f"red {red}")
        answered_after = {}
        for _ in range(5):
            answer = receive(socket, timeout_s=8)
            answered_after[answer["id"]] = (answer, time.monotonic() - sent)
        with ModelClient(address, timeout=10, retries=0) as client:
            afterwards = [client.predict(red_image(red)) for red in (20, 21, 22)]
            stats = client.stats()
        stopping = time.monotonic()
    stopped_in_s = time.monotonic() - stopping

    hung, hung_after_s = answered_after.pop("hangs")
    assert hung["error"]["code"] == "decode_timeout", hung
    assert 1.0 <= hung_after_s < 4.0
    assert {request_id: answer["predictions"][0]["label"]
            for request_id, (answer, _) in answered_after.items()} == {f"red {red}": f"red {red}"
                                                                        for red in range(4)}
    assert [reply.predictions[0].label for reply in afterwards] == ["red 20", "red 21", "red 22"]
    assert stats.errors == {"decode_timeout": 1}
    assert stopped_in_s < 3.0
    stuck = [thread for thread in threading.enumerate()
             if thread.name.startswith("worker-") and thread.is_alive()]
    assert stuck and all(thread.daemon for thread in stuck), "a stuck decoder would block exit"
    assert any(record.levelname == "ERROR" and "abandoned" in record.getMessage()
               for record in caplog.records)


def test_a_broker_without_workers_answers_stats_itself():
    with start_broker(name="test-stats-broker") as broker:
        with ModelClient(broker.address, timeout=5, retries=0) as client:
            stats = client.stats()
    assert stats.workers == [] and stats.queue_depth == 0 and stats.requests == 0


def test_a_stopping_server_finishes_what_it_can_and_answers_the_rest_stopping(context):
    """No client is left waiting for a server that has gone: a request in a forward pass is
    finished, those that cannot be within --drain-seconds and any sent after the stop are
    answered ``stopping``."""
    stop = threading.Event()
    classifier = ColourClassifier(seconds=1.0)
    with in_process_model_server(classifier, stop=stop, workers=1, max_batch=1,
                                 drain_seconds=1.8) as address:
        queued = [dealer(context, address) for _ in range(3)]
        # queued-0 goes first, alone: three sockets' messages may reach the server in any order.
        # The stop comes once it is in its 1 s forward pass, with the other two waiting behind it.
        send_predict(queued[0], "queued-0")
        began = time.monotonic()
        while classifier.calls < 1:
            assert time.monotonic() - began < ANSWER_BOUND_S, "the first request never reached the model"
            time.sleep(0.01)
        for index, socket in enumerate(queued[1:], start=1):
            send_predict(socket, f"queued-{index}")
        time.sleep(0.1)
        stop.set()
        time.sleep(0.1)
        late = dealer(context, address)
        send_predict(late, "after-the-stop")
        replies = {reply["id"]: reply for reply in (receive(s, 10) for s in [*queued, late])}
    assert replies["queued-0"].get("predictions"), replies
    assert replies["after-the-stop"]["error"]["code"] == "stopping"
    assert replies["queued-2"]["error"]["code"] == "stopping", "the last in line cannot be finished in 1.8 s"
    assert all("predictions" in reply or reply["error"]["code"] == "stopping" for reply in replies.values())
