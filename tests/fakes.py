"""A stand-in for the model server behind the web app, for tests about the web app's side alone.

``FakeModelClient`` replaces the app's ``ModelClient``: it answers ``REPLY``, is down, or is slow,
without TensorFlow or a model server process. The web app around it is real, served over real
HTTP by ``web_apps_with_fake_model``. Both the suite and the exercise checks (which run without
``tests/conftest.py``) import this module: ``tests/`` is on pytest's ``pythonpath``.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Literal

from werkzeug.serving import make_server

from flask_server.app import create_app
from model_server.client import ModelServerUnavailable
from model_server.protocol import UNTRAINED, PredictReply, Prediction, ServerInfo, Timings

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
