"""Shared fixtures: one real model server for the session, the web app built against it, and fakes.

The model server is the real ``python -m model_server`` with untrained seeded weights, started as a
subprocess on a free port by ``lab.processes`` and stopped in teardown. Loading ResNet50 takes
seconds, so tests share it wherever they do not need to stop it.
"""

from __future__ import annotations

import io
import threading
from typing import Callable

import pytest
import zmq

from flask_server.app import create_app
from lab.processes import ServerProcess, free_port, start_model_server
from model_server.serving.broker import split_envelope


@pytest.fixture(scope="session")
def model_server() -> ServerProcess:
    """The real model server (weights ``random``, two workers), shared by the whole session."""
    server = start_model_server(weights="random", name="test-session-model-server")
    yield server
    server.stop()


@pytest.fixture
def dead_address() -> str:
    """A ZeroMQ address where nothing listens."""
    return f"tcp://127.0.0.1:{free_port()}"


class SilentServer:
    """A real ZeroMQ ROUTER that receives requests and never answers: a hung model server.

    Given ``answer`` (request header frame → reply frame, or ``None`` to stay silent), it answers
    requests with it instead, e.g. the way a full server says "busy".
    """

    def __init__(self, answer: Callable[[bytes], bytes | None] | None = None) -> None:
        self._answer = answer
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.received: list[bytes] = []
        self._context = zmq.Context()
        self._stop = threading.Event()
        self._router = self._context.socket(zmq.ROUTER)
        self._router.linger = 0
        self._router.bind(self.address)
        self._thread = threading.Thread(target=self._listen, name="silent-router", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            if self._router.poll(20):
                envelope, body = split_envelope(self._router.recv_multipart())
                self.received.append(body[0])
                reply = self._answer(body[0]) if self._answer is not None else None
                if reply is not None:
                    self._router.send_multipart([*envelope, reply])

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._router.close()
        self._context.term()


@pytest.fixture
def scripted_server():
    """``scripted_server(answer)``: a ``SilentServer`` that answers every request with ``answer``."""
    servers = []

    def make(answer: Callable[[bytes], bytes | None]) -> SilentServer:
        servers.append(SilentServer(answer))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def silent_server() -> SilentServer:
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def make_app():
    """Build the split web app (``flask_server.app``) for an address, with short timeouts."""
    apps = []

    def make(address: str, **config):
        app = create_app({
            "TESTING": True,
            "MODEL_SERVER_ADDRESS": address,
            "MODEL_SERVER_TIMEOUT": 30.0,
            "MODEL_SERVER_RETRIES": 0,
            "MODEL_SERVER_CONNECT_TIMEOUT": 0.3,
            **config,
        })
        apps.append(app)
        return app

    yield make
    for app in apps:
        for name in ("model_client", "health_client"):
            app.extensions[name].close()


@pytest.fixture
def app(model_server, make_app):
    """The web app against the session's model server; its upload limit is a small 1 MiB."""
    return make_app(model_server.address, MAX_CONTENT_LENGTH=2**20)


@pytest.fixture
def client(app):
    return app.test_client()


def post_file(client, path: str, image: bytes, filename: str = "photo.jpg", field: str = "file"):
    """POST ``image`` as a multipart upload in the form field ``field``, as a browser does."""
    return client.post(
        path, data={field: (io.BytesIO(image), filename)}, content_type="multipart/form-data"
    )


@pytest.fixture
def upload():
    """``upload(client, path, image_bytes, filename=...)``: a browser's multipart upload."""
    return post_file
