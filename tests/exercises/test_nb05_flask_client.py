"""Checks for notebook 05's exercise: ``predict_over_http`` against the real web app.

The web app is ``flask_server.app`` served over real HTTP on a free port, with its model server
client replaced by a fake (so no TensorFlow and no model server are needed).
"""

from __future__ import annotations

import threading
import time

import pytest
import requests
from werkzeug.serving import make_server

from flask_server.app import create_app
from model_server.client import ModelServerUnavailable
from model_server.protocol import PredictReply, Prediction, ServerInfo, Timings

IMAGE = b"\xff\xd8\xff\xe0 pretend JPEG bytes"
SLOW_REPLY_S = 3.0


class FakeModelClient:
    def __init__(self, behaviour: str):
        self.behaviour = behaviour
        self.address = "tcp://127.0.0.1:1"

    def predict(self, image: bytes, top: int = 3) -> PredictReply:
        if self.behaviour == "down":
            raise ModelServerUnavailable(f"no model server is answering at {self.address}")
        if self.behaviour == "slow":
            time.sleep(SLOW_REPLY_S)
        return PredictReply(
            [Prediction("tabby", "n02123045", 0.8), Prediction("tiger cat", "n02123159", 0.1),
             Prediction("lynx", "n02127052", 0.05)],
            "imagenet", "resnet50", Timings(1.0, 1.0, 50.0, 52.0),
        )

    def ping(self) -> ServerInfo:
        return ServerInfo("resnet50", "imagenet", 1)

    def close(self) -> None:
        pass


@pytest.fixture
def web_app():
    servers = []

    def serve(behaviour: str) -> str:
        app = create_app({"TESTING": True})
        app.extensions["model_client"] = FakeModelClient(behaviour)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server in servers:
        server.shutdown()


@pytest.fixture
def nb05(load_answers):
    return load_answers("nb05_flask_client")


def test_predictions_come_back_as_label_and_probability(nb05, attempt, web_app):
    url = web_app("ok")
    try:
        top = attempt(nb05.predict_over_http, url, IMAGE, "cat.jpg")
    except nb05.PredictionFailed as error:
        pytest.fail(f"the web app answered {error}: send the image as the form field 'file' "
                    "to POST {base_url}/api/predict", pytrace=False)
    assert top == [("tabby", 0.8), ("tiger cat", 0.1), ("lynx", 0.05)], (
        f"expected [(label, probability), ...] from the JSON's 'predictions', got {top!r}"
    )


def test_a_down_model_server_raises_prediction_failed_with_503(nb05, attempt, web_app):
    url = web_app("down")
    with pytest.raises(nb05.PredictionFailed) as failure:
        result = attempt(nb05.predict_over_http, url, IMAGE, "cat.jpg")
        pytest.fail(f"the web app answered 503, but predict_over_http returned {result!r}: "
                    "raise PredictionFailed for any status but 200", pytrace=False)
    assert failure.value.status == 503, f"the status was 503, not {failure.value.status!r}"
    assert "no model server is answering" in failure.value.message, (
        "PredictionFailed's message should be the JSON body's error.message, "
        f"not {failure.value.message!r}"
    )


def test_a_stuck_web_app_times_out(nb05, attempt, web_app):
    url = web_app("slow")
    outcome: dict = {}

    def call() -> None:
        started = time.perf_counter()
        try:
            outcome["result"] = attempt(nb05.predict_over_http, url, IMAGE, "cat.jpg", timeout=0.5)
        except BaseException as error:  # reported below, in the test's own thread
            outcome["error"] = error
        outcome["seconds"] = time.perf_counter() - started

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(SLOW_REPLY_S + 5)
    assert not thread.is_alive(), "predict_over_http never returned: pass timeout to requests.post"
    error = outcome.get("error")
    if error is not None and not isinstance(error, requests.exceptions.Timeout):
        raise error
    assert isinstance(error, requests.exceptions.Timeout), (
        f"the web app took {SLOW_REPLY_S:g} s but the timeout was 0.5 s, and predict_over_http "
        f"waited {outcome['seconds']:.1f} s: pass timeout=timeout to requests.post"
    )
