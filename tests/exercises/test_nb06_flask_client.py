"""Checks for notebook 06's exercise: ``predict_over_http`` against the real web app.

The web app is ``flask_server.app`` served over real HTTP on a free port, with its model server
client replaced by ``fakes.FakeModelClient`` (so no TensorFlow and no model server are needed).
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from fakes import REPLY, SLOW_REPLY_S, web_apps_with_fake_model

IMAGE = b"\xff\xd8\xff\xe0 pretend JPEG bytes"


@pytest.fixture
def web_app():
    """``web_app("down")``: the URL of the real web app, its model server a fake that is down."""
    with web_apps_with_fake_model() as serve:
        yield serve


@pytest.fixture
def nb06(load_answers):
    return load_answers("nb06_flask_client")


def test_predictions_come_back_as_label_and_probability(nb06, attempt, web_app):
    url = web_app("ok")
    try:
        top = attempt(nb06.predict_over_http, url, IMAGE, "cat.jpg")
    except nb06.PredictionFailed as error:
        pytest.fail(f"the web app answered {error}: send the image as the form field 'file' "
                    "to POST {base_url}/api/predict", pytrace=False)
    assert top == [(p.label, p.probability) for p in REPLY.predictions], (
        f"expected [(label, probability), ...] from the JSON's 'predictions', got {top!r}"
    )


def test_a_down_model_server_raises_prediction_failed_with_503(nb06, attempt, web_app):
    url = web_app("down")
    with pytest.raises(nb06.PredictionFailed) as failure:
        result = attempt(nb06.predict_over_http, url, IMAGE, "cat.jpg")
        pytest.fail(f"the web app answered 503, but predict_over_http returned {result!r}: "
                    "raise PredictionFailed for any status but 200", pytrace=False)
    assert failure.value.status == 503, f"the status was 503, not {failure.value.status!r}"
    assert "no model server is answering" in failure.value.message, (
        "PredictionFailed's message should be the JSON body's error.message, "
        f"not {failure.value.message!r}"
    )


def test_a_stuck_web_app_times_out(nb06, attempt, web_app):
    url = web_app("slow")
    outcome: dict = {}

    def call() -> None:
        started = time.perf_counter()
        try:
            outcome["result"] = attempt(nb06.predict_over_http, url, IMAGE, "cat.jpg", timeout=0.5)
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
