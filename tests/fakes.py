"""The tests' stand-ins, in one place: fake classifiers, in-thread servers, a fake model client.

- ``ColourClassifier`` stands in for ResNet50 (no TensorFlow): it names an image by its colour, so
  every reply shows which image it answers; ``HangsOnce`` makes a real classifier hang once.
- ``SlowDecode`` decodes an image in a worker thread of its own, as the model server's workers do,
  finishing when the test says: how a test tells a ``Batcher`` that company is coming.
- ``in_process_model_server`` runs the real ``ModelServer`` on a thread of the test.
- ``FakeModelClient`` replaces the web app's ``ModelClient``; ``web_apps_with_fake_model`` serves
  the real web app around it over real HTTP.
- ``raw_dealer(address)``: a plain DEALER socket, to send frames no client of ours would.
- A ROUTER that answers as a script says (silent, busy, late...) is ``harness.stubs``'s
  ``ScriptedRouter``: the CURVE benchmark uses it too, and benchmarks do not import ``tests/``.

The suite and the exercise checks (which run without ``tests/conftest.py``, also from a notebook
through ``lab.learner.checks``) both import this module: ``tests/`` is on pytest's ``pythonpath``. The web
app and the server machinery are imported where they are used, so that a check of notebook 04 does
not wait for Flask to load.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Literal

import numpy as np
import zmq

import imagegen
from harness.processes import free_port
from model_server.client import ModelServerUnavailable
from model_server.protocol import UNTRAINED, Prediction, PredictReply, ServerInfo, Timings

#: Seconds a thread of a test's server has to end once told to.
STOP_TIMEOUT_S = 30.0
#: Seconds a ``ColourClassifier``'s forward pass takes unless told: long enough for requests from
#: many threads to overlap.
FORWARD_PASS_S = 0.005


def free_address() -> str:
    """A loopback ZeroMQ address where nothing listens (yet)."""
    return f"tcp://127.0.0.1:{free_port()}"


# --- classifiers ---------------------------------------------------------------------------------


class ColourClassifier:
    """Stands in for ResNet50: the class of an image is the red value of its top-left pixel.

    Each forward pass sleeps ``seconds``, as a model takes its time. ``built`` counts the
    instances ever made, ``calls`` this one's forward passes: a server that builds a model per
    request, or never uses the one it was given, shows in them.
    """

    model_name = "colour-stand-in"
    weights = "stand-in"
    runtime = "numpy"
    precision = "f32"
    built = 0

    def __init__(self, seconds: float = FORWARD_PASS_S):
        ColourClassifier.built += 1
        self.seconds = seconds
        self.calls = 0
        self._lock = threading.Lock()

    def preprocess(self, pixels: np.ndarray) -> np.ndarray:
        return pixels.astype(np.float32)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            self.calls += 1
        time.sleep(self.seconds)
        probabilities = np.zeros((len(batch), 1000), np.float32)
        probabilities[np.arange(len(batch)), batch[:, 0, 0, 0].astype(int)] = 1.0
        return probabilities

    def top_predictions(self, probabilities: np.ndarray, top: int) -> list[Prediction]:
        order = np.argsort(probabilities)[::-1][:top]
        return [Prediction(f"red {i}", f"n{i:08d}", float(probabilities[i])) for i in order]


def red_image(red: int) -> bytes:
    """A solid PNG that ``ColourClassifier`` names ``"red {red}"``."""
    return imagegen.solid_png((red, 0, 0))


class HangsOnce:
    """A classifier, except that its first forward pass hangs until ``release`` is set (60 s at most)."""

    def __init__(self, classifier):
        self._classifier = classifier
        self.model_name, self.weights = classifier.model_name, classifier.weights
        self.runtime, self.precision = classifier.runtime, classifier.precision
        self.release = threading.Event()
        self._hung = False

    def preprocess(self, pixels):
        return self._classifier.preprocess(pixels)

    def infer(self, batch):
        if not self._hung:
            self._hung = True
            self.release.wait(60)
        return self._classifier.infer(batch)

    def top_predictions(self, probabilities, top):
        return self._classifier.top_predictions(probabilities, top)


# --- decodes in worker threads -------------------------------------------------------------------


class SlowDecode:
    """One image decoded through ``batcher.decode_and_submit`` in a thread, until ``finish()``.

    When the constructor returns, the batcher counts the image as coming. ``result`` is the
    image's ``BatchResult``, or raises what the decode or the batch raised (``fails`` makes the
    decode refuse the image).
    """

    def __init__(self, batcher, pixels: np.ndarray, fails: bool = False):
        self._release, started = threading.Event(), threading.Event()
        self._outcome: Future = Future()

        def decode() -> np.ndarray:
            started.set()
            self._release.wait(60)
            if fails:
                raise ValueError("this image cannot be decoded")
            return pixels

        def work() -> None:
            try:
                self._outcome.set_result(batcher.decode_and_submit(decode).result(timeout=60))
            except BaseException as error:
                self._outcome.set_exception(error)

        self.thread = threading.Thread(target=work, daemon=True)
        self.thread.start()
        started.wait(10)

    def finish(self) -> SlowDecode:
        self._release.set()
        return self

    def result(self, timeout: float = 60):
        return self._outcome.result(timeout=timeout)


def decoded_together(batcher, pixels: list[np.ndarray]) -> list:
    """Decode all of ``pixels`` at once, as many workers would, and return their ``BatchResult``s."""
    decodes = [SlowDecode(batcher, image) for image in pixels]
    for decode in decodes:
        decode.finish()
    return [decode.result() for decode in decodes]


# --- the model server in a thread ----------------------------------------------------------------


@contextmanager
def in_process_model_server(classifier, address: str | None = None, stop: threading.Event | None = None,
                            **settings) -> Iterator[str]:
    """The real ``ModelServer`` (broker, workers, batching) for ``classifier``, on a thread of the
    test and its own ZeroMQ context; yields its address (a free port unless given one).

    Setting ``stop`` (if given) stops the server as SIGTERM would, before the block ends. With
    ``http_address`` its ``/livez``, ``/readyz`` and ``/metrics`` are served there, as the command
    line serves them.
    """
    from model_server.serving.http_endpoints import HttpEndpoints
    from model_server.serving.server import ModelServer
    from model_server.serving.settings import ServerSettings

    address = address or free_address()
    context = zmq.Context()
    stop = stop or threading.Event()
    thread: threading.Thread | None = None
    endpoints = None
    try:  # a bind or an HTTP port that fails must not leave the context and its sockets behind
        server = ModelServer(classifier, ServerSettings(address=address, **settings), context=context)
        server.bind()
        http_address = server.settings.http_address
        endpoints = HttpEndpoints(http_address, server.probes) if http_address else None
        thread = threading.Thread(target=server.serve, args=(stop,), name="in-process-model-server",
                                  daemon=True)
        thread.start()
        yield address
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=STOP_TIMEOUT_S)
        if endpoints is not None:
            endpoints.stop()
        context.destroy(linger=0)


@contextmanager
def raw_dealer(address: str) -> Iterator[zmq.Socket[bytes]]:
    """A DEALER socket connected to ``address`` on a context of its own (LINGER 0), gone on exit."""
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        dealer = context.socket(zmq.DEALER)
        dealer.linger = 0
        dealer.connect(address)
        yield dealer
    finally:
        context.destroy(linger=0)


# --- the web app with a fake model client --------------------------------------------------------

#: What the fake answers; the label has markup in it, which every page must escape.
REPLY = PredictReply(
    [Prediction("tabby <cat>", "n02123045", 0.8), Prediction("tiger cat", "n02123159", 0.15),
     Prediction("lynx", "n02127052", 0.05)],
    UNTRAINED, "resnet50", Timings(2.0, 0.5, 50.0, 52.5),
)
#: Seconds a "slow" fake takes to answer.
SLOW_REPLY_S = 3.0

Behaviour = Literal["ok", "down", "slow"]


class FakeModelClient:
    """Answers ``REPLY`` ("ok"), raises ``ModelServerUnavailable`` ("down"), or answers late ("slow")."""

    def __init__(self, behaviour: Behaviour = "ok"):
        self.behaviour = behaviour
        self.address = "tcp://127.0.0.1:1"

    def predict(self, image: bytes, top: int = 3) -> PredictReply:
        if self.behaviour == "down":
            raise ModelServerUnavailable(f"no model server is answering at {self.address}")
        if self.behaviour == "slow":
            time.sleep(SLOW_REPLY_S)
        return REPLY

    def ping(self) -> ServerInfo:
        return ServerInfo(REPLY.model, REPLY.weights, 1)

    def close(self) -> None:
        pass


@contextmanager
def web_apps_with_fake_model() -> Iterator[Callable[[Behaviour], str]]:
    """``serve("down")`` starts the real split web app on a free port, its model client a
    ``FakeModelClient("down")``, and returns its URL; every app started stops on exit."""
    from werkzeug.serving import make_server

    from flask_server.app import create_app

    servers = []

    def serve(behaviour: Behaviour = "ok") -> str:
        app = create_app({"TESTING": True})
        app.extensions["model_client"] = FakeModelClient(behaviour)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, name="fake-model-web-app", daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    try:
        yield serve
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
