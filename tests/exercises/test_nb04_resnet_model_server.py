"""Checks of notebook 04's model server (``resnet_model_server.py``): real sockets, a fake model.

The server runs in this process on a free port, with a classifier that sleeps ``MODEL_SECONDS``
instead of running ResNet50 and names each image by its colour, so that a reply shows which
request it answers. Two clients ask it: the original write-up's (``harness.original_client``: a DEALER
with a uuid identity, one frame, ``"payload"`` → ``"preds"``) and a REQ client sending the lab's
``"image"`` JSON. Every wait here has a limit: an unwritten or stuck server fails a check, it never
hangs one.

The checks follow the notebook's steps, and each blames only its own: ``envelope_and_body``;
``RequestHandler.reply_to`` (called directly, no sockets); ``RequestHandler.run`` (with a
``reply_to`` given, behind a DEALER backend on ``inproc://``); ``Server`` (with the reference
``envelope_and_body`` and ``RequestHandler``, so that a mistake in those is not blamed on it).
"""

from __future__ import annotations

import base64
import gc
import importlib.util
import json
import socket
import threading
import time
import warnings

import pytest
import zmq

from fakes import ColourClassifier, free_address, red_image
from harness import original_client
from harness.load import at_once
from harness.processes import REPO_ROOT
from model_server.protocol import ServerError, encode_original_request

MODEL_SECONDS = 0.2
REPLY_TIMEOUT_MS = 5000
STOP_TIMEOUT_S = 10
#: How long a check's clean-up waits for a server to stop (the stop check itself waits longer).
TEARDOWN_WAIT_S = 3
#: Clients of the original's kind sent at once in the concurrency check.
ORIGINAL_CLIENTS = 16


def request(red: int, request_id: str | None = None) -> bytes:
    """The lab's request (``"image"``, ``"id"``), as the test client and notebook 06's app send it."""
    message = {"image": base64.b64encode(red_image(red)).decode("ascii")}
    if request_id is not None:
        message["id"] = request_id
    return json.dumps(message).encode()


@pytest.fixture
def nb04(load_answers):
    return load_answers("resnet_model_server")


def _reference():
    """``solutions/resnet_model_server.py``, whatever answers are checked."""
    path = REPO_ROOT / "solutions" / "resnet_model_server.py"
    spec = importlib.util.spec_from_file_location("reference_resnet_model_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def server_alone(nb04, monkeypatch):
    """The answers, with the reference ``envelope_and_body`` and ``RequestHandler`` in them: the
    Server's checks then pass or fail on the Server alone."""
    reference = _reference()
    for name in ("envelope_and_body", "RequestHandler"):
        monkeypatch.setattr(nb04._module, name, getattr(reference, name))
    return nb04


@pytest.fixture
def serve(server_alone, attempt):
    """``serve(classifier)``: the learner's Server started on a free port; stopped afterwards."""
    nb04 = server_alone
    started = []

    def start(classifier: ColourClassifier | None = None):
        classifier = classifier or ColourClassifier(MODEL_SECONDS)
        server = nb04.Server(free_address(), classifier)
        attempt(server.start)
        started.append(server)
        return server, classifier

    yield start
    for server in started:
        if not server.context.closed:
            _in_a_daemon_thread(server.stop)
        if not server.context.closed:  # their stop() did not terminate it: so that their threads end
            _in_a_daemon_thread(server.context.term)


def _in_a_daemon_thread(stop) -> None:
    """Call ``stop`` and wait at most ``TEARDOWN_WAIT_S`` for it: a check must not hang on it."""
    stopper = threading.Thread(target=stop, daemon=True)
    stopper.start()
    stopper.join(TEARDOWN_WAIT_S)


def handler(nb04, classifier: ColourClassifier | None = None):
    """A RequestHandler to call ``reply_to`` on, without sockets."""
    return nb04.RequestHandler(None, [b"client"], [], classifier or ColourClassifier(0.0))


class BrokenClassifier(ColourClassifier):
    """A model that fails: its forward pass raises, as a real one may (out of memory, say)."""

    def infer(self, batch):
        raise RuntimeError("the model broke")


@pytest.fixture
def reply_to(nb04, attempt, caplog, answers_file, caught, where):
    """``reply_to(frame, what)``: the learner's reply as a dict. ``what`` names a request that
    must succeed: an ``internal`` reply to it then fails the check with what their catch-all
    caught and logged, and where. An exception out of reply_to fails it with where it came from."""
    def reply(frame: bytes, what: str | None = None, classifier=None) -> dict:
        caplog.clear()
        with caplog.at_level("WARNING"):
            try:
                answer = json.loads(attempt(handler(nb04, classifier).reply_to, frame))
            except Exception as error:
                pytest.fail("reply_to raised an exception, and it must never raise (its thread would "
                            "end without a reply): catch every exception and reply with an error. It "
                            + where(error, answers_file("resnet_model_server")), pytrace=False)
        if what and isinstance(answer, dict) and answer.get("error", {}).get("code") == "internal":
            pytest.fail(f"{what} got 'internal', not predictions: "
                        + caught(caplog.records, answers_file("resnet_model_server")),
                        pytrace=False)
        return answer

    return reply


NO_REPLY = ("does start() bind the backend to BACKEND_ADDRESS, does the loop start a "
            "RequestHandler(self.context, envelope, body, self.classifier) for every request, and "
            "does it pass what the backend receives on to the frontend, every frame as it came?")


def ask(address: str, frame: bytes, timeout_ms: int = REPLY_TIMEOUT_MS) -> dict:
    """One request on a fresh REQ socket; the reply as a dict, or a failed check after the timeout."""
    client = zmq.Context.instance().socket(zmq.REQ)
    client.connect(address)
    try:
        client.send(frame)
        if not client.poll(timeout_ms, zmq.POLLIN):
            pytest.fail(f"a REQ client got no reply within {timeout_ms / 1000:g} s: a REQ client's "
                        "message reaches the ROUTER as [identity, b'', request] and it accepts only a "
                        "reply with that empty delimiter in front: "
                        + NO_REPLY, pytrace=False)
        return json.loads(client.recv())
    finally:
        client.close(linger=0)


def ask_as_the_original(address: str, image: bytes, timeout_s: float = REPLY_TIMEOUT_MS / 1000) -> str:
    """The original's client, bounded; no reply fails the check with a hint."""
    try:
        return original_client.predict(image, address, max_wait_s=timeout_s, poll_s=0.1)
    except original_client.NoReplyYet:
        pytest.fail(f"the original's client (a DEALER sending [request], no empty delimiter) got no "
                    f"reply within {timeout_s:g} s: {NO_REPLY}", pytrace=False)


def answers_at_once(count: int, ask_one) -> tuple[list[object], float]:
    """``ask_one(i)`` from ``count`` threads at the same moment; the answers and the seconds it took."""
    answers: list[object] = [None] * count

    def client(index: int) -> None:
        try:
            answers[index] = ask_one(index)
        except BaseException as error:  # a failed check in a thread: kept, to be reported
            answers[index] = error

    return answers, at_once(count, client, join_timeout_s=REPLY_TIMEOUT_MS / 1000 + 2)


def test_the_envelope_is_the_identity_and_a_reqs_empty_delimiter(nb04, attempt):
    dealer = attempt(nb04.envelope_and_body, [b"uuid-1", b'{"payload": "..."}'])
    assert tuple(dealer) == ([b"uuid-1"], [b'{"payload": "..."}']), (
        f"a DEALER client's message is [identity, request]: the envelope is [identity], the body "
        f"[request]; got {dealer!r}"
    )
    req = attempt(nb04.envelope_and_body, [b"\x00\x6b\x8b\x45\x67", b"", b'{"image": "..."}'])
    assert tuple(req) == ([b"\x00\x6b\x8b\x45\x67", b""], [b'{"image": "..."}']), (
        f"a REQ client's message is [identity, b'', request]: the envelope keeps the empty "
        f"delimiter (the REQ wants it back on the reply), the body is [request]; got {req!r}"
    )
    two = attempt(nb04.envelope_and_body, [b"id", b"", b"header", b"image bytes"])
    assert tuple(two) == ([b"id", b""], [b"header", b"image bytes"]), (
        f"everything after the envelope is the body, however many frames; got {two!r}"
    )


def test_only_the_empty_frame_right_after_the_identity_is_a_delimiter(nb04, attempt):
    req = attempt(nb04.envelope_and_body, [b"id", b"", b"header", b"", b"tail"])
    assert tuple(req) == ([b"id", b""], [b"header", b"", b"tail"]), (
        f"[id, b'', header, b'', tail]: the envelope ends at the first empty frame, the delimiter "
        f"right after the identity, not at the last one (a body may hold empty frames of its own); "
        f"got {req!r}"
    )
    dealer = attempt(nb04.envelope_and_body, [b"id", b"request", b"", b"tail"])
    assert tuple(dealer) == ([b"id"], [b"request", b"", b"tail"]), (
        f"[id, request, b'', tail] comes from a DEALER (no delimiter): only an empty second frame "
        f"is a delimiter; got {dealer!r}"
    )


@pytest.mark.exercise("RequestHandler.reply_to")
def test_an_original_request_gets_preds_and_its_rid(reply_to):
    reply = reply_to(encode_original_request(red_image(42), "rid-7"), "a good request in the original's format")
    assert isinstance(reply.get("preds"), str), (
        f'a request with "payload" is the original\'s: reply {{"preds": format_original_preds(predictions)}}, '
        f"got {reply!r:.160}"
    )
    entries = reply["preds"].split(", ")
    assert len(entries) == 3 and entries[0] == "red 42 : 1.0", (
        f'"preds" should be the top 3 as "label : probability", joined by ", " (format_original_preds), '
        f"got {reply['preds']!r}"
    )
    assert reply.get("_rid") == "rid-7", 'the request\'s "_rid" must come back in its reply'


@pytest.mark.exercise("RequestHandler.reply_to")
def test_bad_original_requests_get_preds_that_say_why(reply_to):
    for frame, what, code in ((b'{"_rid": "r1"}', 'an original request with no "payload"', "bad_request"),
                              (b'{"payload": "not base64!", "_rid": "r1"}', 'a "payload" that is not base64',
                               "bad_base64"),
                              (encode_original_request(b"just some text", "r1"), "a file that is not an image",
                               "not_an_image")):
        reply = reply_to(frame)
        assert reply.get("error", {}).get("code") == code, (
            f'{what} should get {{"error": {{"code": "{code}", ...}}}}, got {reply!r:.160}'
        )
        assert str(reply.get("preds", "")).startswith(f"error: {code}: "), (
            f'the original\'s client reads only "preds": the error reply to {what} needs '
            f'"preds": "error: {code}: <message>" (encode_error(..., original=True)), got {reply!r:.160}'
        )
        assert reply.get("_rid") == "r1", f'the error reply to {what} must echo its "_rid"'


@pytest.mark.exercise("RequestHandler.reply_to")
def test_bad_json_and_a_missing_image_get_error_replies(reply_to):
    for frame, what, code in ((b"{not json", "a request that is not JSON", "bad_json"),
                              (b'["image"]', "a JSON list instead of an object", "bad_json"),
                              (b'{"id": "7"}', 'a request with no "image"', "bad_request"),
                              (b'{"image": "not base64!"}', "an image that is not base64", "bad_base64")):
        reply = reply_to(frame)
        assert "error" in reply and reply["error"].get("code") == code, (
            f'{what} should get {{"error": {{"code": "{code}", "message": ...}}}}, not {reply!r:.120}'
        )
        assert reply["error"].get("message"), f"the error reply to {what} needs a message saying what is wrong"


@pytest.mark.exercise("RequestHandler.reply_to")
def test_a_request_in_the_labs_format_gets_the_top_predictions_and_its_id(reply_to):
    reply = reply_to(request(42, "abc"), "a good request in the lab's format")
    assert "predictions" in reply, f'a request with "image" expects {{"predictions": [...]}}, got {reply!r:.160}'
    assert [p.get("label") for p in reply["predictions"]][:1] == ["red 42"], (
        f"the first prediction should be the classifier's top class, got {reply['predictions']!r:.160}"
    )
    assert len(reply["predictions"]) == 3 and set(reply["predictions"][0]) == {"label", "wnid", "probability"}, (
        'expected the top 3, each {"label", "wnid", "probability"} (dataclasses.asdict of a Prediction)'
    )
    assert reply.get("id") == "abc", (
        f'a request\'s "id" must come back in its reply: {{"predictions": [...], "id": "abc"}}, got '
        f"the keys {sorted(reply)}"
    )


@pytest.mark.exercise("RequestHandler.reply_to")
def test_a_failing_model_gets_an_internal_error_reply_not_an_exception(nb04, attempt):
    for frame, what, id_field in ((request(3, "lab-1"), "the lab's", "id"),
                                  (encode_original_request(red_image(3), "rid-1"), "the original's", "_rid")):
        try:
            answer = attempt(handler(nb04, BrokenClassifier(0.0)).reply_to, frame)
        except Exception as error:
            pytest.fail(f"reply_to raised {error!r} when the model failed on a request in {what} format: "
                        "it must never raise. Catch every other exception after RequestError and "
                        "reply ErrorCode.INTERNAL (logged)", pytrace=False)
        reply = json.loads(answer)
        assert reply.get("error", {}).get("code") == "internal", (
            f"the model raised RuntimeError on a request in {what} format: expected the error reply "
            f"'internal', got {reply!r:.160}"
        )
        assert reply.get(id_field) == frame_id(frame, id_field), (
            f'the internal error reply to a request in {what} format must echo its "{id_field}"'
        )


def frame_id(frame: bytes, field: str) -> str:
    return json.loads(frame)[field]


def _handler_with_a_given_reply(nb04):
    """The learner's RequestHandler, its reply_to replaced: run's checks do not depend on it."""
    class GivenReply(nb04.RequestHandler):
        def reply_to(self, request: bytes) -> bytes:
            return b"the reply to " + request

    return GivenReply


def _backend(nb04, context: zmq.Context) -> zmq.Socket:
    backend = context.socket(zmq.DEALER)
    backend.linger = 0
    backend.bind(nb04.BACKEND_ADDRESS)
    return backend


def _reply_while_alive(backend: zmq.Socket, thread: threading.Thread) -> list[bytes] | None:
    """The frames the backend receives within ``REPLY_TIMEOUT_MS``; once the handler thread has
    ended (a stub raises at once), only what it sent before: nothing more can come."""
    give_up = time.monotonic() + REPLY_TIMEOUT_MS / 1000
    while time.monotonic() < give_up:
        ended = not thread.is_alive()
        if backend.poll(50):
            return backend.recv_multipart()
        if ended:
            return None
    return None


def _run_behind_a_backend(nb04, attempt, envelope: list[bytes], body: list[bytes]) -> list[bytes]:
    """One handler thread started behind a DEALER backend on ``inproc://``: the frames it sent.

    The context is then terminated: that returns only once the handler has closed its socket."""
    context = zmq.Context()
    backend = _backend(nb04, context)
    failures: list[BaseException] = []
    thread = _handler_with_a_given_reply(nb04)(context, envelope, body, ColourClassifier(0.0))
    thread.run = _noting(thread.run, failures)
    gc.collect()  # sockets other code left behind are closed before the count starts
    with warnings.catch_warnings(record=True) as caught:  # a socket closed by the garbage collector
        warnings.simplefilter("always", ResourceWarning)
        try:
            thread.start()
            received = _reply_while_alive(backend, thread)
            thread.join(STOP_TIMEOUT_S)
        finally:
            backend.close(linger=0)
        gc.collect()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)
                and "zmq.DEALER" in str(w.message)]
    if failures:
        attempt(_raise, failures[0])  # a stub says what to write; else the error is shown
    terminated = threading.Thread(target=context.term, daemon=True)
    terminated.start()
    terminated.join(TEARDOWN_WAIT_S)
    assert received is not None, (
        f"the backend got nothing from a RequestHandler thread within {REPLY_TIMEOUT_MS / 1000:g} s: "
        "run() opens a zmq.DEALER from self.context, connects it to BACKEND_ADDRESS and sends "
        "[*self.envelope, reply]"
    )
    assert not thread.is_alive(), "the RequestHandler thread was still running after it sent its reply"
    assert not terminated.is_alive() and not unclosed, (
        "run() left its DEALER socket open after sending its reply (" + (
            "Python's garbage collector closed it later" if unclosed else "context.term() waited for it")
        + "): close it (linger=0) when done, whatever happens (try: ... finally:)"
    )
    return received


def _noting(run, failures: list[BaseException]):
    def noted() -> None:
        try:
            run()
        except BaseException as error:  # shown by the check, not lost in the thread
            failures.append(error)
    return noted


def _raise(error: BaseException) -> None:
    raise error


@pytest.mark.exercise("RequestHandler.run")
def test_a_handler_sends_its_envelope_and_reply_to_the_backend(nb04, attempt):
    frames = _run_behind_a_backend(nb04, attempt, [b"client-7", b""], [b"request 7"])
    assert frames == [b"client-7", b"", b"the reply to request 7"], (
        f"the backend should receive [*envelope, reply_to(request)] = [b'client-7', b'', b'the reply to "
        f"request 7'], got {frames!r:.200}"
    )


@pytest.mark.exercise("RequestHandler.run")
def test_a_request_of_more_than_one_frame_gets_bad_request(nb04, attempt):
    frames = _run_behind_a_backend(nb04, attempt, [b"client-8"], [request(1), b"a second frame"])
    assert frames[:1] == [b"client-8"] and len(frames) == 2, (
        f"the backend should receive [*envelope, reply], got {frames!r:.200}"
    )
    reply = json.loads(frames[1]) if frames[1].startswith(b"{") else {}
    assert reply.get("error", {}).get("code") == "bad_request", (
        f"a body of two frames (a good request and one more) got {frames[1]!r:.160}: a body that is not "
        "exactly one frame is refused with encode_error(ErrorCode.BAD_REQUEST, ONE_FRAME), not answered"
    )


@pytest.mark.exercise("RequestHandler.run")
def test_a_handler_of_a_stopped_server_returns_quietly(nb04, attempt):
    context = zmq.Context()
    context.term()
    thread = _handler_with_a_given_reply(nb04)(context, [b"client"], [b"request"], ColourClassifier(0.0))
    try:
        attempt(thread.run)
    except zmq.ZMQError as error:
        pytest.fail(f"run() raised {error!r} when the server had stopped (its context terminated): "
                    "return quietly on zmq.ContextTerminated, or on zmq.ZMQError once "
                    "self.context.closed", pytrace=False)


def test_serve_closes_both_sockets_when_the_server_stops(server_alone, attempt):
    nb04 = server_alone
    server = nb04.Server(free_address(), ColourClassifier(0.0))
    frontend = server.context.socket(zmq.ROUTER)
    frontend.bind(server.address)
    backend = _backend(nb04, server.context)
    failures: list[BaseException] = []
    loop = threading.Thread(target=_noting(lambda: server.serve(frontend, backend), failures), daemon=True)
    loop.start()
    time.sleep(0.1)  # polling by now
    terminated = threading.Thread(target=server.context.term, daemon=True)
    terminated.start()
    loop.join(TEARDOWN_WAIT_S)
    left_open = [name for name, s in (("frontend", frontend), ("backend", backend)) if not s.closed]
    for name in left_open:  # so that term() returns
        (frontend if name == "frontend" else backend).close(linger=0)
    terminated.join(TEARDOWN_WAIT_S)
    if failures and not isinstance(failures[0], zmq.ContextTerminated):
        attempt(_raise, failures[0])
    assert not loop.is_alive(), (
        "serve() did not return after context.term(): poll() then raises zmq.ContextTerminated; "
        "catch it, close both sockets and return"
    )
    assert not left_open, (
        f"serve() ended without closing its {' and '.join(left_open)} socket: close both (linger=0) "
        "when the server stops (a finally: block), or context.term() waits for them and the port "
        "stays taken"
    )


def test_the_originals_client_gets_its_preds(serve):
    server, _ = serve()
    preds = ask_as_the_original(server.address, red_image(9))
    assert preds.startswith("red 9 : "), f"the original's client got {preds!r}, not its image's top class"


def test_a_req_client_gets_its_reply(serve):
    server, _ = serve()
    reply = ask(server.address, request(5, "req"))
    assert reply.get("id") == "req" and reply["predictions"][0]["label"] == "red 5", (
        f"a REQ client sending the lab's JSON got {reply!r:.160}"
    )


def test_16_original_clients_at_once_each_get_their_own_answer(serve):
    server, _ = serve()
    ask_as_the_original(server.address, red_image(1))  # connections made before timing
    answers, seconds = answers_at_once(ORIGINAL_CLIENTS,
                                       lambda i: ask_as_the_original(server.address, red_image(10 + i)))
    for i, answer in enumerate(answers):
        if isinstance(answer, BaseException):
            pytest.fail(f"client {i} of {ORIGINAL_CLIENTS}: {answer}", pytrace=False)
        assert str(answer).startswith(f"red {10 + i} : "), (
            f"client {i} asked about red {10 + i} and got {answer!r}: each reply must go back along its "
            "own request's envelope"
        )
    # A thread per request: 16 requests of 0.2 s at once take about 0.2 s; one at a time, 3.2 s.
    assert seconds < 1.0, (
        f"{ORIGINAL_CLIENTS} requests took {seconds:.2f} s with a {MODEL_SECONDS} s model: about "
        f"{ORIGINAL_CLIENTS * MODEL_SECONDS:.1f} s means one at a time. Does the loop start() a "
        "RequestHandler thread and go back to polling, rather than compute the reply itself?"
    )


def test_bad_original_requests_get_error_preds_and_the_server_keeps_serving(serve):
    server, _ = serve()
    for image, code in ((b"just some text", "not_an_image"), (b"", "empty_image")):
        try:
            preds = ask_as_the_original(server.address, image)
        except ServerError as error:
            assert error.code == code, f"a {code} request got the error {error.code!r}"
        else:
            pytest.fail(f"a request the server cannot classify got preds {preds!r} instead of an error reply",
                        pytrace=False)
    assert ask_as_the_original(server.address, red_image(5)).startswith("red 5 : "), (
        "after error replies the next request must still be answered"
    )


def test_the_classifier_is_built_once_for_many_requests(serve, monkeypatch):
    from model_server.models.tensorflow_model import ResNet50Classifier

    def no_loading(*args, **kwargs):
        raise AssertionError("built a ResNet50 during a request")

    monkeypatch.setattr(ResNet50Classifier, "load", no_loading)
    built_before = ColourClassifier.built
    server, classifier = serve(ColourClassifier(0.0))
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


def _handlers_alive() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "request-handler" and t.is_alive()]


def test_stopping_joins_every_thread_and_frees_the_port(serve, attempt):
    server, _ = serve(ColourClassifier(1.0))
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    dealer.connect(server.address)
    dealer.send(encode_original_request(red_image(3)))
    give_up = time.perf_counter() + 5
    while not _handlers_alive() and time.perf_counter() < give_up:  # a handler is now classifying
        time.sleep(0.01)
    outcome: list[BaseException] = []

    def stop() -> None:
        try:
            server.stop()
        except BaseException as error:
            outcome.append(error)

    stopper = threading.Thread(target=stop, daemon=True)
    stopper.start()
    stopper.join(STOP_TIMEOUT_S)
    dealer.close(linger=0)
    if outcome:
        attempt(server.stop)  # says what to write, or raises what stop() raised
    assert not stopper.is_alive(), (
        f"stop() did not return within {STOP_TIMEOUT_S} s: after context.term(), each thread must close "
        "its own socket (term() waits for every socket to be closed); a handler that finds the context "
        "terminated returns without replying"
    )
    assert isinstance(server.loop, threading.Thread), (
        "start() should keep the loop's thread in self.loop, so that stop() can join it"
    )
    assert not server.loop.is_alive(), "after stop() the loop's thread is still running: join it"
    assert not _handlers_alive(), (
        "stop() returned while a RequestHandler was still classifying: join every handler in self.handlers"
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
