"""Checks for notebook 06's exercise: the original's ``app.py`` as a ZeroMQ client (``exercises/app.py``).

Each of the three parts is checked on its own, so that a mistake is reported under the part that
makes it. ``create_app``: the factory's config and blueprint. ``ask_model_server``: against a fake
model server behind a real ROUTER socket in a thread, which answers, never answers, or answers
late; "down" is an address where nothing listens. ``uploader``: through Flask's test client, on
an app the check builds around the module's ``pages`` blueprint (not the learner's
``create_app``), with a stand-in for ``ask_model_server`` that answers, or raises the module's
``ModelServerDown`` or ``ModelServerTooSlow``.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import zmq
from flask import Flask

from fakes import free_address
from harness.stubs import Later, Script, ScriptedRouter, scripted_routers

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF pretend JPEG bytes"
NOT_AN_IMAGE = b"lab notes, not a picture"
#: What the fake answers; a label has markup in it, which the page must escape.
PREDICTIONS = [{"label": "tabby <cat>", "wnid": "n02123045", "probability": 0.8},
               {"label": "tiger cat", "wnid": "n02123159", "probability": 0.15},
               {"label": "lynx", "wnid": "n02127052", "probability": 0.05}]
NOT_AN_IMAGE_MESSAGE = "the file is not an image the model server can read"
#: Short waits, so that a check of a timeout takes a second, not the default 5 s × 3.
TIMEOUT_S, RETRIES, CONNECT_TIMEOUT_S = 0.3, 2, 0.2
#: Seconds a "late" fake waits before it answers: longer than TIMEOUT_S.
LATE_S = 0.8
#: Seconds an "ok" fake takes to answer, as a forward pass does: well within TIMEOUT_S, but far
#: longer than a poll given TIMEOUT_S as milliseconds (0.3 ms), which an instant answer on
#: loopback could still win (a mutant once passed that way).
PROMPT_S = 0.05
#: Seconds a check waits for a call that should give up by itself after at most
#: (1 + RETRIES) × (CONNECT_TIMEOUT_S + TIMEOUT_S) = 1.5 s: one that waits forever is caught.
GIVE_UP_S = 10.0


def _answer_like_the_model_server(request: list[bytes]) -> bytes:
    """Predictions for a JPEG, an error reply for bytes that are not one."""
    if base64.b64decode(json.loads(request[-1])["image"]).startswith(b"\xff\xd8"):
        return json.dumps({"predictions": PREDICTIONS}).encode()
    return json.dumps({"error": {"code": "not_an_image", "message": NOT_AN_IMAGE_MESSAGE}}).encode()


#: How the fake model server answers: ``ok`` (as the model server does), ``silent`` (never) or ``late``.
BEHAVIOURS: dict[str, Script] = {
    "ok": lambda request: Later(PROMPT_S, _answer_like_the_model_server(request)),
    "silent": lambda request: None,
    "late": lambda request: Later(LATE_S, _answer_like_the_model_server(request)),
}


@pytest.fixture
def model_server() -> Callable[[str], ScriptedRouter]:
    """``model_server("ok")``: a fake model server behind a real ROUTER socket in a thread."""
    with scripted_routers() as start:
        yield lambda behaviour="ok": start(BEHAVIOURS[behaviour])


def requests_to(server: ScriptedRouter) -> list[dict[str, Any]]:
    """The JSON requests the fake model server received, in order."""
    return [json.loads(request[-1]) for request in server.received]


@pytest.fixture
def app_module(load_answers):
    return load_answers("app")


#: The config the checks' app is built with (not the defaults: the view must read it).
CONFIG = {"TESTING": True, "MODEL_SERVER_ADDRESS": "tcp://127.0.0.1:5999", "MODEL_SERVER_TIMEOUT_S": TIMEOUT_S,
          "MODEL_SERVER_RETRIES": RETRIES, "MODEL_SERVER_CONNECT_TIMEOUT_S": CONNECT_TIMEOUT_S}


class StandIn:
    """Stands in for the learner's ``ask_model_server`` while ``uploader`` is checked: answers like
    the model server (``"ok"``), or raises the module's ``ModelServerDown`` or ``ModelServerTooSlow``."""

    def __init__(self, module: Any, behaviour: str):
        self.module, self.behaviour = module, behaviour
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, request_frame: bytes, address: str, timeout_s: float, retries: int,
                 connect_timeout_s: float) -> bytes:
        self.calls.append((request_frame, address, timeout_s, retries, connect_timeout_s))
        if self.behaviour == "down":
            raise self.module.ModelServerDown(f"no model server is answering at {address} (is it running?)")
        if self.behaviour == "slow":
            raise self.module.ModelServerTooSlow(f"the model server at {address} did not answer in time")
        return _answer_like_the_model_server([request_frame])

    def images(self) -> list[bytes]:
        return [base64.b64decode(json.loads(call[0])["image"]) for call in self.calls]


@pytest.fixture
def web_app(app_module, monkeypatch):
    """``web_app("ok")``: (Flask's test client of an app with the learner's ``pages``, the stand-in)."""
    module = app_module._module  # not through the recorder: these checks are uploader's alone
    app_module.uploader  # noqa: B018 - reached over HTTP, so note it as read: run_checks reports it

    def build(behaviour: str = "ok"):
        stand_in = StandIn(module, behaviour)
        monkeypatch.setattr(module, "ask_model_server", stand_in)
        app = Flask(module.__name__)
        app.config.from_mapping(CONFIG)
        app.register_blueprint(module.pages)
        return app.test_client(), stand_in

    return build


def _upload(client, data: bytes | None, filename: str = "cat.jpg"):
    """POST to ``/uploader`` as the form does; an unwritten view fails with where to write it."""
    form = {} if data is None else {"file": (io.BytesIO(data), filename)}
    outcome: dict[str, Any] = {}

    def post() -> None:
        try:
            outcome["response"] = client.post("/uploader", data=form, content_type="multipart/form-data")
        except BaseException as error:  # reported below, in the test's own thread
            outcome["error"] = error

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    thread.join(GIVE_UP_S)
    if thread.is_alive():
        pytest.fail(f"POST /uploader had no answer after {GIVE_UP_S:g} s: does a recv() wait "
                    "without a timeout? Poll with the configured timeout first.", pytrace=False)
    error = outcome.get("error")
    if isinstance(error, NotImplementedError):
        pytest.fail(f"{error}: open exercises/app.py, read the docstring and replace the "
                    "`raise NotImplementedError(...)` with your code (uploader is not written yet)",
                    pytrace=False)
    if error is not None:
        pytest.fail(f"POST /uploader raised {error!r}: catch what can go wrong and answer with "
                    "_error_page(status, message)", pytrace=False)
    response = outcome["response"]
    if response.status_code == 404:
        pytest.fail("POST /uploader is 404: keep the @pages.post(\"/uploader\") decorator on uploader",
                    pytrace=False)
    return response


def test_the_factory_keeps_the_defaults_and_takes_the_test_config(app_module, attempt):
    app = attempt(app_module.create_app, {"MODEL_SERVER_ADDRESS": "tcp://127.0.0.1:1", "TESTING": True})
    assert app is not None and hasattr(app, "config"), f"create_app returned {app!r}: return the Flask app"
    assert app.config.get("MODEL_SERVER_ADDRESS") == "tcp://127.0.0.1:1", (
        "the address from test_config is not in app.config: load test_config after DEFAULTS")
    missing = [name for name in app_module.DEFAULTS if name not in app.config]
    assert not missing, f"{missing} are not in app.config: load DEFAULTS with app.config.from_mapping"
    page = app.test_client().get("/")
    assert page.status_code == 200 and b'name="file"' in page.data, (
        f"GET / answered {page.status_code}, not the upload form: register the pages blueprint")
    assert attempt(app_module.create_app).config["MODEL_SERVER_ADDRESS"] == \
        app_module.DEFAULTS["MODEL_SERVER_ADDRESS"], "without test_config the defaults should stay"


def test_an_upload_shows_the_top_3_escaped(web_app):
    client, ask = web_app("ok")
    response = _upload(client, JPEG)
    assert ask.calls, "the model server got no request: send the image with ask_model_server"
    assert ask.images() == [JPEG], "the model server did not get the uploaded file: send _original_request(image)"
    assert ask.calls[0][1:] == (CONFIG["MODEL_SERVER_ADDRESS"], TIMEOUT_S, RETRIES, CONNECT_TIMEOUT_S), (
        f"ask_model_server was given {ask.calls[0][1:]}: pass the address, timeout, retries and connect "
        "timeout from current_app.config, in that order")
    page = response.get_data(as_text=True)
    assert response.status_code == 200, f"expected 200 for a good image, got {response.status_code}:\n{page}"
    assert "<cat>" not in page, "a label was put in the page unescaped: let Jinja escape it, never |safe"
    labels = [page.find(label) for label in ("tabby &lt;cat&gt;", "tiger cat", "lynx")]
    assert -1 not in labels and labels == sorted(labels), (
        "the page should show the three labels in the reply's order: pass [(label, probability), ...]")
    assert "80.0%" in page, "the probabilities should be shown as percentages: pass them as given (0.8)"


@pytest.mark.parametrize("data", [None, b""], ids=["no file", "empty file"])
def test_no_file_or_an_empty_file_gets_400_without_asking_the_model_server(web_app, data):
    client, ask = web_app("ok")
    response = _upload(client, data)
    assert response.status_code == 400, (
        f"{'no file' if data is None else 'an empty file'} should get 400, not "
        f"{response.status_code}: check request.files and the file's bytes before asking")
    assert not ask.calls, "nothing should be sent to the model server when there is no image"


def test_not_an_image_gets_400_with_the_servers_message_and_the_app_keeps_serving(web_app):
    client, _ = web_app("ok")
    bad = _upload(client, NOT_AN_IMAGE, "notes.txt")
    assert bad.status_code == 400, (
        f"the model server said 'not an image' but the app answered {bad.status_code}: look for "
        '"error" in the reply and answer 400')
    assert NOT_AN_IMAGE_MESSAGE in bad.get_data(as_text=True), (
        "the error page should say what the model server said: its error's message")
    assert _upload(client, JPEG).status_code == 200, "after a bad file, a good image should work again"


@pytest.mark.parametrize(("behaviour", "status", "raised", "said"), [
    ("down", 503, "ModelServerDown", "is it running?"),
    ("slow", 504, "ModelServerTooSlow", "did not answer in time"),
], ids=["down", "slow"])
def test_a_down_model_server_gets_503_and_a_slow_one_504(web_app, behaviour, status, raised, said):
    client, _ = web_app(behaviour)
    response = _upload(client, JPEG)
    assert response.status_code == status, (
        f"ask_model_server raised {raised}, but the app answered {response.status_code}: answer {status}")
    assert said in response.get_data(as_text=True), (
        f"the {status} page should say what {raised} said (the exception's message)")


@contextmanager
def sockets_opened() -> Iterator[list[zmq.Socket]]:
    """Every ZeroMQ socket opened in this process meanwhile (on any context)."""
    opened: list[zmq.Socket] = []
    original = zmq.Context.socket

    def socket(self, *args: Any, **kwargs: Any) -> zmq.Socket:
        made = original(self, *args, **kwargs)
        opened.append(made)
        return made

    zmq.Context.socket = socket
    try:
        yield opened
    finally:
        zmq.Context.socket = original


def _ask_within_give_up(app_module, attempt, *args: Any) -> dict[str, Any]:
    """Call ``ask_model_server(*args)`` in a thread; its reply or error, or a failure if it hangs."""
    outcome: dict[str, Any] = {}

    def ask() -> None:
        try:
            outcome["reply"] = attempt(app_module.ask_model_server, *args)
        except BaseException as error:  # reported below, in the test's own thread
            outcome["error"] = error

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    thread.join(GIVE_UP_S)
    assert not thread.is_alive(), "ask_model_server never returned: poll with the timeouts you are given"
    return outcome


def _not_called_down(app_module, error: BaseException | None, address: str) -> None:
    """A model server listens at ``address``: a ``ModelServerDown`` there means the connection was
    not given its time."""
    if isinstance(error, app_module.ModelServerDown):
        pytest.fail(f"a model server is listening at {address}, yet ask_model_server raised {error!r}: "
                    "wait up to connect_timeout_s for POLLOUT (socket.poll takes milliseconds: "
                    "seconds * 1000)", pytrace=False)


def test_a_down_model_server_is_told_from_a_slow_one(app_module, attempt):
    address = free_address()
    with sockets_opened() as opened:
        outcome = _ask_within_give_up(app_module, attempt, b'{"image": ""}', address, TIMEOUT_S, RETRIES,
                                      CONNECT_TIMEOUT_S)
    error = outcome.get("error")
    assert isinstance(error, app_module.ModelServerDown), (
        f"nothing listens at {address}, yet ask_model_server "
        f"{'raised ' + repr(error) if error else 'returned ' + repr(outcome.get('reply'))}: a connect "
        "succeeds anyway; set zmq.IMMEDIATE to 1 before connecting and raise ModelServerDown when the "
        "socket is not writable (POLLOUT) within connect_timeout_s")
    assert opened and all(s.closed for s in opened), "close every socket you open, also when the server is down"


def test_a_silent_model_server_is_asked_again_then_given_up(app_module, model_server, attempt):
    server = model_server("silent")
    with sockets_opened() as opened:
        outcome = _ask_within_give_up(app_module, attempt, b'{"image": ""}', server.address, TIMEOUT_S,
                                      RETRIES, CONNECT_TIMEOUT_S)
    error = outcome.get("error")
    _not_called_down(app_module, error, server.address)
    if error is not None and not isinstance(error, app_module.ModelServerTooSlow):
        raise error
    assert isinstance(error, app_module.ModelServerTooSlow), (
        f"no reply ever came, yet ask_model_server returned {outcome.get('reply')!r}: "
        "raise ModelServerTooSlow after the last attempt")
    time.sleep(0.1)
    assert len(requests_to(server)) == 1 + RETRIES, (
        f"with retries={RETRIES} the request should be sent {1 + RETRIES} times, each on a fresh "
        f"socket; the server got it {len(requests_to(server))} time(s)")
    assert len(opened) == 1 + RETRIES and all(s.closed for s in opened), (
        f"{len(opened)} sockets opened, {sum(not s.closed for s in opened)} left open: open one per "
        "attempt and close it (try/finally), also when no reply came")


def test_a_late_reply_is_given_up_and_an_answer_comes_back_as_sent(app_module, model_server, attempt):
    late = model_server("late")
    outcome = _ask_within_give_up(app_module, attempt, b'{"image": ""}', late.address, TIMEOUT_S, 0,
                                  CONNECT_TIMEOUT_S)
    _not_called_down(app_module, outcome.get("error"), late.address)
    assert isinstance(outcome.get("error"), app_module.ModelServerTooSlow), (
        f"the reply came after {LATE_S:g} s, later than the timeout, yet ask_model_server "
        f"{'raised ' + repr(outcome['error']) if 'error' in outcome else 'returned ' + repr(outcome.get('reply'))}"
        ": raise ModelServerTooSlow")
    ok = model_server("ok")
    frame = json.dumps({"image": base64.b64encode(JPEG).decode()}).encode()
    try:
        reply = attempt(app_module.ask_model_server, frame, ok.address, TIMEOUT_S, RETRIES, CONNECT_TIMEOUT_S)
    except app_module.ModelServerDown as error:
        _not_called_down(app_module, error, ok.address)
    except app_module.ModelServerTooSlow as error:
        pytest.fail(f"the model server answers in {PROMPT_S:g} s, yet ask_model_server raised {error!r}: "
                    "socket.poll takes milliseconds (seconds * 1000)", pytrace=False)
    assert isinstance(reply, bytes) and json.loads(reply) == {"predictions": PREDICTIONS}, (
        f"return the reply frame as received (bytes, from socket.recv()), not {reply!r:.80}")
