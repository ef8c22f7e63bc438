"""Checks of notebook 04's model server (``resnet_model_server.py``): real sockets, a fake model.

The server runs in this process on a free port, with a classifier that sleeps ``MODEL_SECONDS``
instead of running ResNet50 and names each image by its colour, so that a reply shows which
request it answers. Every receive here has a timeout: an unwritten or stuck server fails a check,
it never hangs one.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time

import pytest
import zmq

from fakes import ColourClassifier, free_address, red_image

MODEL_SECONDS = 0.2
REPLY_TIMEOUT_MS = 5000


def request(red: int, request_id: str | None = None) -> bytes:
    message = {"image": base64.b64encode(red_image(red)).decode("ascii")}
    if request_id is not None:
        message["id"] = request_id
    return json.dumps(message).encode()


@pytest.fixture
def nb04(load_answers):
    return load_answers("resnet_model_server")


@pytest.fixture
def serve(nb04, attempt):
    """``serve(workers)``: the learner's Server started on a free port; stopped afterwards."""
    started = []

    def start(workers: int = 2, classifier: ColourClassifier | None = None):
        classifier = classifier or ColourClassifier(MODEL_SECONDS)
        server = nb04.Server(free_address(), classifier, workers)
        attempt(server.start)
        started.append(server)
        return server, classifier

    yield start
    for server in started:
        if server.context.closed:
            continue
        stopper = threading.Thread(target=server.stop, daemon=True)
        stopper.start()
        stopper.join(10)


def ask(address: str, frame: bytes, timeout_ms: int = REPLY_TIMEOUT_MS) -> dict:
    """One request on a fresh REQ socket; the reply as a dict, or a failed check after the timeout."""
    client = zmq.Context.instance().socket(zmq.REQ)
    client.connect(address)
    try:
        client.send(frame)
        if not client.poll(timeout_ms, zmq.POLLIN):
            pytest.fail(f"no reply within {timeout_ms / 1000:g} s: does each worker send a reply for "
                        "every request it receives, and does the proxy run?", pytrace=False)
        return json.loads(client.recv())
    finally:
        client.close(linger=0)


def ask_at_once(address: str, frames: list[bytes]) -> tuple[list[dict | None], float]:
    """Every frame from its own client at the same moment; the replies and the seconds it took."""
    replies: list[dict | None] = [None] * len(frames)
    go = threading.Barrier(len(frames) + 1)

    def client(index: int) -> None:
        go.wait()
        try:
            replies[index] = ask(address, frames[index])
        except BaseException:  # a failed check in a thread: the missing reply says it
            pass

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(frames))]
    for thread in threads:
        thread.start()
    go.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join(REPLY_TIMEOUT_MS / 1000 + 2)
    return replies, time.perf_counter() - began


def test_bad_json_and_a_missing_image_get_error_replies(nb04, attempt):
    handler = nb04.RequestHandler(ColourClassifier(0.0))
    for frame, what in ((b"{not json", "a request that is not JSON"),
                        (b'["image"]', "a JSON list instead of an object"),
                        (b'{"id": "7"}', 'a request with no "image"'),
                        (b'{"image": "not base64!"}', "an image that is not base64")):
        reply = json.loads(attempt(handler.reply_to, frame))
        assert "error" in reply and reply["error"].get("code") == "bad_request", (
            f'{what} should get {{"error": {{"code": "bad_request", "message": ...}}}}, not {reply!r:.120}'
        )
        assert reply["error"].get("message"), f"the error reply to {what} needs a message saying what is wrong"


def test_a_good_request_gets_the_top_predictions_and_its_id(nb04, attempt):
    reply = json.loads(attempt(nb04.RequestHandler(ColourClassifier(0.0)).reply_to, request(42, "abc")))
    assert "predictions" in reply, f'expected {{"predictions": [...]}}, got {reply!r:.160}'
    assert [p.get("label") for p in reply["predictions"]][:1] == ["red 42"], (
        f"the first prediction should be the classifier's top class, got {reply['predictions']!r:.160}"
    )
    assert len(reply["predictions"]) == 3 and set(reply["predictions"][0]) == {"label", "wnid", "probability"}, (
        'expected the top 3, each {"label", "wnid", "probability"} (dataclasses.asdict of a Prediction)'
    )
    assert reply.get("id") == "abc", 'a request\'s "id" must come back in its reply'


def test_concurrent_clients_each_get_their_own_reply(serve):
    server, _ = serve(workers=2)
    replies, _ = ask_at_once(server.address, [request(10 * i, f"client {i}") for i in range(1, 7)])
    for i, reply in enumerate(replies, start=1):
        assert reply is not None, f"client {i} got no reply: is every worker connected and answering?"
        assert reply.get("id") == f"client {i}", (
            f"client {i} got {reply.get('id')}'s reply: a reply must travel back along its own request's "
            "envelope (ROUTER in front, REP workers behind a DEALER)"
        )
        assert reply["predictions"][0]["label"] == f"red {10 * i}", f"client {i} got another image's predictions"


def test_two_workers_answer_at_the_same_time(serve):
    server, _ = serve(workers=2)
    ask(server.address, request(1))  # connections made before timing
    replies, seconds = ask_at_once(server.address, [request(i) for i in range(4)])
    assert all(replies), "some of the 4 requests got no reply"
    # 4 requests of 0.2 s on 2 workers: 0.4 s if both work at once, 0.8 s one at a time.
    assert seconds < 0.6, (
        f"4 requests took {seconds:.2f} s with 2 workers and a {MODEL_SECONDS} s model: about "
        f"{4 * MODEL_SECONDS:.1f} s means one request at a time. Does each worker thread run its "
        "own loop on its own socket, all started before start() returns?"
    )


def test_the_classifier_is_built_once_for_many_requests(serve, monkeypatch):
    from model_server.models.tensorflow_model import ResNet50Classifier

    def no_loading(*args, **kwargs):
        raise AssertionError("built a ResNet50 during a request")

    monkeypatch.setattr(ResNet50Classifier, "load", no_loading)
    built_before = ColourClassifier.built
    server, classifier = serve(workers=2, classifier=ColourClassifier(0.0))
    for i in range(6):
        reply = ask(server.address, request(i))
        assert "predictions" in reply, (
            f"request {i} got {reply!r:.160}: use the classifier the Server was given (self.classifier), "
            "do not build a model per request"
        )
    assert classifier.calls == 6 and ColourClassifier.built == built_before + 1, (
        f"6 requests used the given classifier {classifier.calls} times and built "
        f"{ColourClassifier.built - built_before - 1} more: share the one built at start"
    )


def test_a_non_image_gets_an_error_reply_and_the_server_keeps_serving(serve):
    server, _ = serve(workers=1)
    not_an_image = json.dumps({"image": base64.b64encode(b"just some text").decode(), "id": "x"}).encode()
    reply = ask(server.address, not_an_image)
    assert reply.get("error", {}).get("code") == "not_an_image", (
        f'a file that is not an image should get an error reply with code "not_an_image" '
        f"(classify_image raises RequestError with that code), got {reply!r:.160}"
    )
    assert "predictions" in ask(server.address, request(5)), (
        "after an error reply the next request must still be answered: catch the error, do not let it end the worker"
    )


def test_stopping_frees_the_port(serve, attempt):
    server, _ = serve(workers=2)
    ask(server.address, request(3))
    outcome: list[BaseException] = []

    def stop() -> None:
        try:
            server.stop()
        except BaseException as error:
            outcome.append(error)

    stopper = threading.Thread(target=stop, daemon=True)
    stopper.start()
    stopper.join(10)
    if outcome:
        attempt(server.stop)  # says what to write, or raises what stop() raised
    assert not stopper.is_alive(), (
        "stop() did not return within 10 s: after context.term(), each thread must close its own "
        "socket (term() waits for every socket to be closed)"
    )
    host, port = server.address.rsplit("/", 1)[1].split(":")
    with socket.socket() as again:
        # As ZeroMQ binds (SO_REUSEADDR): the closed connection's TIME_WAIT must not count as
        # taken, while a frontend still listening does (Linux refuses that bind either way).
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            again.bind((host, int(port)))
        except OSError as error:
            pytest.fail(f"after stop() the port is still taken ({error}): close the frontend socket",
                        pytrace=False)
