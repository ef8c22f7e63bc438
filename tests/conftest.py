"""Shared fixtures: one real model server for the session, the web app built against it, stand-ins,
and one run of every exercise check against the reference answers and against the stubs.

The model server is the real ``python -m model_server`` with untrained seeded weights, started as a
subprocess on a free port by ``harness.processes`` and stopped in teardown. Loading ResNet50 takes
seconds, so tests share it wherever they do not need to stop it. The two runs of the checks (tens
of seconds each) are read by the tests of the checks, of their report and of a learner's start.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from fakes import free_address
from flask_server.app import create_app
from harness.launch import start_model_server
from harness.processes import ServerProcess
from harness.stubs import ScriptedRouter, scripted_routers
from lab.learner import checks, stubs


@pytest.fixture(scope="session")
def model_server() -> ServerProcess:
    """The real model server (weights ``random``, two workers), shared by the whole session."""
    server = start_model_server(weights="random", name="test-session-model-server")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def untrained():
    """The untrained, seeded ResNet50 on TensorFlow, in the test process, loaded once for the
    session (seconds apiece). Tests read it or wrap it; none changes it."""
    from model_server.models.tensorflow_model import ResNet50Classifier

    return ResNet50Classifier.load("random")


@pytest.fixture(scope="session")
def openvino_flags(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    """Flags that make a model server or a remote worker run the same untrained ResNet50 on
    OpenVINO, from an IR converted once for the session.

    For tests that need *a* real model behind a process, not TensorFlow's: such a process is
    ready in about 0.6 s, where TensorFlow takes 5.4 s (both measured on a Zen 4 machine), and
    the tests that start broker and workers by the dozen spend most of their time starting them.
    What TensorFlow does is tested by the session's model server, the notebooks and the
    model's own tests.
    """
    from model_server.models.openvino_model import OpenVINOClassifier

    cache = tmp_path_factory.mktemp("openvino-ir")
    OpenVINOClassifier.load("random", cache_dir=cache)  # converts once; the processes read the IR
    return ("--runtime", "openvino", "--openvino-cache", str(cache))


@pytest.fixture(scope="session")
def shipped_stubs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ``exercises`` package of the stubs as the lab ships them (never the checkout's, which
    may hold a learner's work). Read it; a test that writes answers makes a copy of its own."""
    return stubs.copy_into(tmp_path_factory.mktemp("shipped") / "exercises")


@pytest.fixture(scope="session")
def reference_check_results() -> list[checks.CheckResult]:
    """Every notebook's checks, run once against the reference answers (``solutions/``)."""
    results = checks.check_results("nb0", "solutions")
    assert results is not None, "the checks wrote no report against the reference answers"
    return results


@pytest.fixture(scope="session")
def stub_check_results(shipped_stubs: Path) -> list[checks.CheckResult]:
    """Every notebook's checks, run once against the untouched stubs."""
    results = checks.check_results("nb0", str(shipped_stubs))
    assert results is not None, "the checks wrote no report against the stubs"
    return results


@pytest.fixture
def dead_address() -> str:
    """A ZeroMQ address where nothing listens."""
    return free_address()


@pytest.fixture
def scripted_server():
    """``scripted_server(answer)``: a ``ScriptedRouter`` answering each request's frames with
    ``answer(request)`` (reply bytes, ``Later(seconds, reply)``, or ``None`` for no reply)."""
    with scripted_routers() as start:
        yield start


@pytest.fixture
def silent_server(scripted_server) -> ScriptedRouter:
    """A real ROUTER that receives requests and never answers: a hung model server."""
    return scripted_server()


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
