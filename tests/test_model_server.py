"""The real model server subprocess: clients of every kind, many at once, and every bad input.

All tests share the session's model server (``python -m model_server --weights random``).
"""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest
import zmq

import imagegen
from harness.launch import start_model_server
from harness.sample_images import NOT_AN_IMAGE, photo
from model_server.client import ModelClient
from model_server.images import decode_image
from model_server.protocol import MAX_REQUEST_BYTES, UNTRAINED, ServerError, encode_request
from model_server.serving.settings import ServerSettings

#: Seconds a raw socket waits for a reply before the test fails (instead of hanging).
REPLY_TIMEOUT_S = 30


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture
def zmq_context():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


@pytest.fixture
def raw_socket(zmq_context, model_server):
    """``raw_socket(zmq.REQ)``: a plain ZeroMQ socket connected to the model server."""

    def connect(kind: int) -> zmq.Socket:
        socket = zmq_context.socket(kind)
        socket.linger = 0
        socket.connect(model_server.address)
        return socket

    return connect


def receive(socket: zmq.Socket, timeout_s: float = REPLY_TIMEOUT_S) -> list[bytes]:
    assert socket.poll(timeout_s * 1000), f"no reply within {timeout_s} s"
    return socket.recv_multipart()


def test_client_gets_the_top_3_predictions(model_server):
    with ModelClient(model_server.address, timeout=REPLY_TIMEOUT_S) as client:
        reply = client.predict(photo())
    assert len(reply.predictions) == 3
    probabilities = [p.probability for p in reply.predictions]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(0 <= p <= 1 for p in probabilities)
    assert all(p.wnid.startswith("n") and p.label for p in reply.predictions)
    assert (reply.model, reply.weights) == ("resnet50", UNTRAINED)


def test_reply_times_each_stage(model_server):
    with ModelClient(model_server.address, timeout=REPLY_TIMEOUT_S) as client:
        timings = client.predict(photo()).timings
    assert timings.decode > 0 and timings.preprocess > 0 and timings.inference > 0
    assert timings.total >= timings.decode + timings.preprocess + timings.inference - 0.01


@pytest.mark.parametrize("top", [1, 5, 1000])
def test_top_is_chosen_per_request(model_server, top):
    with ModelClient(model_server.address, timeout=REPLY_TIMEOUT_S) as client:
        predictions = client.predict(photo(format="PNG"), top=top).predictions
    assert len(predictions) == top
    assert len({p.wnid for p in predictions}) == top


def test_ping_names_the_model_weights_and_workers(model_server):
    with ModelClient(model_server.address, timeout=REPLY_TIMEOUT_S) as client:
        info = client.ping()
    assert (info.model, info.weights, info.workers) == ("resnet50", UNTRAINED, ServerSettings().workers)


def test_raw_req_socket_sending_our_least_json_gets_predictions(raw_socket):
    """Our dialect at its least: a REQ socket and ``{"image": base64}``, nothing more (the
    original's own dialect is tested in ``test_original_dialect``)."""
    socket = raw_socket(zmq.REQ)
    socket.send(json.dumps({"image": b64(photo())}).encode())
    [frame] = receive(socket)
    reply = json.loads(frame)
    assert len(reply["predictions"]) == 3
    assert set(reply["predictions"][0]) == {"label", "wnid", "probability"}
    assert reply["weights"] == UNTRAINED and reply["model"] == "resnet50"
    assert set(reply["timings"]) == {"decode", "preprocess", "inference", "total", "queue"}
    assert "id" not in reply


@pytest.mark.parametrize("delimiter", [True, False], ids=["with-empty-frame", "without-empty-frame"])
def test_raw_dealer_socket_gets_an_answer(raw_socket, delimiter):
    socket = raw_socket(zmq.DEALER)
    request = json.dumps({"image": b64(photo(format="PNG")), "id": "dealer-1"}).encode()
    socket.send_multipart([b"", request] if delimiter else [request])
    frames = receive(socket)
    assert frames[:-1] == ([b""] if delimiter else [])
    reply = json.loads(frames[-1])
    assert reply["id"] == "dealer-1"
    assert len(reply["predictions"]) == 3


def test_sixteen_concurrent_clients_each_get_their_own_answer(model_server):
    images = [photo((64, 64), "PNG", seed=seed) for seed in range(16)]
    with ModelClient(model_server.address, timeout=REPLY_TIMEOUT_S) as client:
        alone = [client.predict(image, top=5).predictions for image in images]
    # Distinct answers, or a mix-up between clients would go unnoticed.
    assert len({tuple((p.wnid, p.probability) for p in answer) for answer in alone}) == len(images)

    start = threading.Barrier(len(images))
    together: list = [None] * len(images)
    failures: list[BaseException] = []

    def ask(index: int) -> None:
        try:
            with ModelClient(model_server.address, timeout=REPLY_TIMEOUT_S, retries=0) as own:
                start.wait()
                together[index] = own.predict(images[index], top=5).predictions
        except BaseException as error:  # reported below, with the others
            failures.append(error)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(images))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=2 * REPLY_TIMEOUT_S)
    assert not failures, failures

    for index, (mine, reference) in enumerate(zip(together, alone)):
        assert [p.wnid for p in mine] == [p.wnid for p in reference], f"client {index}"
        assert [p.probability for p in mine] == pytest.approx(
            [p.probability for p in reference], abs=1e-5
        ), f"client {index}"


def test_concurrent_raw_dealers_get_replies_to_their_own_ids(raw_socket):
    sockets = [raw_socket(zmq.DEALER) for _ in range(16)]
    for index, socket in enumerate(sockets):
        socket.send(json.dumps({"image": b64(photo((32, 32), "PNG", seed=index)), "id": f"c{index}",
                                "top": 1}).encode())
    for index, socket in enumerate(sockets):
        [frame] = receive(socket)
        assert json.loads(frame)["id"] == f"c{index}"


@pytest.mark.parametrize(
    "image", [pytest.param(image, id=name) for name, image in imagegen.awkward_images().items()]
)
def test_awkward_image_gets_predictions(model_server, image):
    with ModelClient(model_server.address, timeout=REPLY_TIMEOUT_S) as client:
        reply = client.predict(image)
    assert len(reply.predictions) == 3
    assert all(0 <= p.probability <= 1 for p in reply.predictions)


def request(**fields) -> bytes:
    return json.dumps(fields).encode()


BAD_INPUTS = [
    pytest.param(b"{this is not json", "bad_json", id="malformed-json"),
    pytest.param(b"\xff\xd8\xff\xe0", "bad_json", id="raw-jpeg-bytes-not-json"),
    pytest.param(b"[1, 2, 3]", "bad_json", id="json-array"),
    pytest.param(request(top=3), "bad_request", id="no-image-field"),
    pytest.param(request(image="%%% not base64 %%%"), "bad_base64", id="malformed-base64"),
    pytest.param(request(image=""), "empty_image", id="empty-image"),
    pytest.param(request(image=b64(NOT_AN_IMAGE)), "not_an_image", id="not-an-image"),
    pytest.param(request(image=b64(imagegen.truncated_jpeg())), "unreadable_image",
                 id="truncated-jpeg"),
    pytest.param(request(image=b64(imagegen.png_bomb())), "image_too_large", id="png-bomb"),
    pytest.param(request(image=b64(imagegen.gif_bomb())), "image_too_large", id="gif-bomb"),
    pytest.param(request(image=b64(imagegen.webp_bomb())), "image_too_large", id="webp-bomb"),
    pytest.param(request(image=b64(imagegen.tiff_bomb())), "image_too_large", id="tiff-bomb"),
    pytest.param(request(image=b64(imagegen.truncated(imagegen.webp()))), "unreadable_image",
                 id="truncated-webp"),
    pytest.param(request(image=b64(imagegen.truncated(imagegen.tiff()))), "unreadable_image",
                 id="truncated-tiff"),
    pytest.param(request(image=b64(photo(format="PNG")), top=True), "bad_request", id="top-true"),
    pytest.param(request(image=b64(photo(format="PNG")), top=0), "bad_request", id="top-0"),
    pytest.param(request(image=b64(photo(format="PNG")), top=1001), "bad_request", id="top-1001"),
    pytest.param(request(image=b64(photo(format="PNG")), op="train"), "bad_request", id="unknown-op"),
]


@pytest.mark.parametrize(("frame", "code"), BAD_INPUTS)
def test_bad_input_gets_its_error_code_and_the_next_request_is_answered(raw_socket, frame, code):
    socket = raw_socket(zmq.REQ)
    socket.send(frame)
    [reply] = receive(socket)
    error = json.loads(reply)["error"]
    assert error["code"] == code
    assert error["message"]

    socket.send(request(image=b64(photo()), id="after"))
    [reply] = receive(socket)
    answer = json.loads(reply)
    assert answer["id"] == "after" and len(answer["predictions"]) == 3


def test_bomb_refusal_names_the_pixel_limit(raw_socket):
    socket = raw_socket(zmq.REQ)
    socket.send(request(image=b64(imagegen.png_bomb(20_000, 20_000))))
    [reply] = receive(socket)
    assert "20000×20000" in json.loads(reply)["error"]["message"]
    assert "50 megapixels" in json.loads(reply)["error"]["message"]


def test_error_reply_echoes_the_request_id(raw_socket):
    socket = raw_socket(zmq.REQ)
    socket.send(request(image=b64(NOT_AN_IMAGE), id="which-one"))
    [reply] = receive(socket)
    assert json.loads(reply) == {
        "error": {"code": "not_an_image", "message": json.loads(reply)["error"]["message"]},
        "id": "which-one",
    }


def test_oversized_frame_is_dropped_and_the_server_keeps_answering(raw_socket, model_server):
    socket = raw_socket(zmq.DEALER)
    socket.send(b"x" * (MAX_REQUEST_BYTES + 1))
    assert not socket.poll(1000), "a frame above the limit is not read, so it gets no reply"
    started = time.monotonic()
    with ModelClient(model_server.address, timeout=REPLY_TIMEOUT_S, retries=0) as client:
        assert client.predict(photo()).predictions
    assert time.monotonic() - started < 10


def test_a_full_server_answers_busy_at_once_and_keeps_serving():
    """Beyond --max-queue requests the broker refuses at once, without losing the others."""
    image = photo()
    with start_model_server("random", workers=1, extra_args=("--max-batch", "1", "--max-queue", "1"),
                            name="test-busy-server") as server:
        context = zmq.Context.instance()
        sockets = []
        for _ in range(6):
            dealer = context.socket(zmq.DEALER)
            dealer.linger = 0
            dealer.connect(server.address)
            sockets.append(dealer)
        try:
            time.sleep(0.5)  # let every connection come up, so the requests arrive together
            for index, dealer in enumerate(sockets):
                dealer.send_multipart([b"", encode_request(image, request_id=f"r{index}")])
            replies = {}
            for dealer in sockets:
                assert dealer.poll(REPLY_TIMEOUT_S * 1000), "a request was lost"
                message = json.loads(dealer.recv_multipart()[-1])
                replies[message["id"]] = message
        finally:
            for dealer in sockets:
                dealer.close()
        busy = [m for m in replies.values() if "error" in m]
        answered = [m for m in replies.values() if "predictions" in m]
        assert len(replies) == 6
        assert busy and answered, replies
        assert all(m["error"]["code"] == "busy" for m in busy)
        with ModelClient(server.address, timeout=REPLY_TIMEOUT_S) as client:
            assert client.predict(image).predictions
            stats = client.stats()
        assert stats.errors.get("busy") == len(busy)
        assert stats.replies == stats.requests and stats.queue_depth == 0, "an accepted request was lost"


def test_stats_count_requests_batches_and_the_local_workers(model_server):
    with ModelClient(model_server.address, timeout=REPLY_TIMEOUT_S) as client:
        before = client.stats()
        client.predict(photo())
        after = client.stats()
    defaults = ServerSettings()
    assert (after.requests, after.replies) == (before.requests + 1, before.replies + 1)
    assert sum(after.batch_sizes.values()) == sum(before.batch_sizes.values()) + 1
    assert after.queue_depth == 0 and after.max_queue == defaults.max_queue
    [local] = after.workers
    assert (local.kind, local.capacity, local.in_flight) == ("local", defaults.workers, 0)


def test_a_small_request_is_answered_while_another_client_streams_big_original_requests(raw_socket, model_server):
    """The broker reads only the header of each 5.6 MB base64 request; the small one gets through."""
    big_image = photo(seed=1) + bytes(4 * 2**20)  # decodes as the JPEG: the bytes after it are ignored
    streaming, stop = threading.Event(), threading.Event()
    big_replies: list[tuple[str, dict]] = []

    def stream_big_requests() -> None:
        socket = raw_socket(zmq.DEALER)
        try:
            while not stop.is_set():
                request_id = f"big-{len(big_replies)}"
                socket.send_multipart([b"", encode_request(big_image, request_id=request_id)])
                big_replies.append((request_id, json.loads(receive(socket)[-1])))
                streaming.set()
        finally:
            socket.close()

    streamer = threading.Thread(target=stream_big_requests)
    streamer.start()
    try:
        assert streaming.wait(REPLY_TIMEOUT_S), "the first big request was not answered"
        big_before = len(big_replies)
        with ModelClient(model_server.address, timeout=REPLY_TIMEOUT_S) as client:
            small_replies = [client.predict(photo(seed=seed)) for seed in range(5)]
        big_during = len(big_replies) - big_before
    finally:
        stop.set()
        streamer.join(REPLY_TIMEOUT_S)
    assert all(len(reply.predictions) == 3 for reply in small_replies)  # and their ids matched
    assert big_during >= 1, "the big requests stopped while the small ones were answered"
    for request_id, reply in big_replies:
        assert reply["id"] == request_id and len(reply["predictions"]) == 3


def test_decoded_pixels_get_the_predictions_of_their_image_file(model_server):
    image = photo(seed=3)
    pixels = decode_image(image)
    with ModelClient(model_server.address, timeout=REPLY_TIMEOUT_S) as client:
        from_file = client.predict(image, top=5)
        from_pixels = client.predict(pixels, top=5)
    assert [p.label for p in from_pixels.predictions] == [p.label for p in from_file.predictions]
    assert [p.probability for p in from_pixels.predictions] == pytest.approx(
        [p.probability for p in from_file.predictions], abs=1e-5)
    assert from_pixels.timings.decode < from_file.timings.decode


def test_pixels_of_another_shape_are_refused_and_the_next_request_answered(model_server):
    with ModelClient(model_server.address, timeout=REPLY_TIMEOUT_S) as client:
        with pytest.raises(ServerError) as refused:
            client.predict(decode_image(photo(), size=(200, 224)))
        assert refused.value.code == "bad_request" and "[224, 200, 3]" in refused.value.message
        with pytest.raises(ServerError) as refused:
            client.predict(decode_image(photo()).astype("float32"))
        assert refused.value.code == "bad_request" and "float32" in refused.value.message
        assert len(client.predict(decode_image(photo())).predictions) == 3
