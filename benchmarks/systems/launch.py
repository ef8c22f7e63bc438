"""Each benchmarked way of serving ResNet50: start it, hand out clients, stop it.

A system gives ``make_call``: a function that builds one client (one per load thread) whose call
classifies one image and raises on failure. One model server can serve several systems (through
the client in each form, and behind the web apps): ``model_client`` and ``web_app`` take it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Mapping

import numpy as np
import requests

from harness import original_client
from harness.http import WebResponse, post_image
from harness.launch import (
    start_model_server,
    start_monolith,
    start_original_model_server,
    start_web_app,
    start_wsgi_app,
)
from harness.load import Call
from harness.processes import ServerProcess, free_port, http_answers
from model_server.client import ModelClient
from model_server.serving.settings import flags

MakeCall = Callable[[], Call]
#: Seconds a benchmark request may take before it counts as an error.
REQUEST_TIMEOUT_S = 120.0
#: Ray starts its own cluster processes first.
RAY_START_TIMEOUT_S = 300.0


def model_client(server: ServerProcess, binary: bool = True) -> ModelClient:
    """A benchmark's client of ``server``: no retries, a failure is a failure."""
    return ModelClient(server.address, timeout=REQUEST_TIMEOUT_S, retries=0, binary=binary)


def client_calls(client: ModelClient, decoded: Mapping[bytes, np.ndarray] | None = None) -> MakeCall:
    """Calls through ``client``: the file (as a frame, or as base64 JSON if the client sends
    that); with ``decoded`` (image → its pixels, decoded beforehand), the pixels, as a web tier on
    other cores would send them."""
    if decoded is None:
        return lambda: client.predict
    return lambda: lambda image: client.predict(decoded[image])


def http_calls(url: str, timeout_s: float = REQUEST_TIMEOUT_S, raw: bool = False) -> MakeCall:
    """Calls that post the image file (of any format: the web app reads its bytes, not the part's
    name or type) as a multipart form to ``url``, or with ``raw`` as the body itself, one HTTP
    session per client."""
    def make_call() -> Call:
        session = requests.Session()

        def call(image: bytes) -> object:
            return succeeded(post_image(url, image, timeout_s, raw=raw, session=session))

        return call

    return make_call


def succeeded(response: WebResponse) -> WebResponse:
    """``response`` if it is a 200; a round with a failed request must not count as measured."""
    if not response.ok:
        raise RuntimeError(f"HTTP {response.status}: {response.body[:200]}")
    return response


@contextlib.contextmanager
def model_server(workers: int, max_batch: int, extra: tuple[str, ...] = (),
                 name: str = "bench-model") -> Iterator[ServerProcess]:
    """Our model server with untrained weights, ``workers`` threads and batches up to ``max_batch``."""
    args = (*flags(max_batch=max_batch), *extra)
    with start_model_server("random", workers=workers, extra_args=args, name=name) as server:
        yield server


@contextlib.contextmanager
def original_design() -> Iterator[MakeCall]:
    """The original write-up's design: the reference ``resnet_model_server.py`` (a thread per
    request) with untrained weights, asked by the original's client (a DEALER socket per request,
    ``{"payload"}`` → ``{"preds"}``), which here gives up after ``REQUEST_TIMEOUT_S``."""
    with start_original_model_server("solutions", "random", name="bench-original") as server:
        def make_call() -> Call:
            return lambda image: original_client.predict(image, server.address, max_wait_s=REQUEST_TIMEOUT_S)

        yield make_call


def runtime_args(runtime: str, precision: str) -> tuple[str, ...]:
    """The model server's flags for a runtime and precision."""
    return tuple(flags(runtime=runtime, precision=precision))


@contextlib.contextmanager
def web_app(model: ServerProcess, wsgi_server: str, name: str | None = None) -> Iterator[ServerProcess]:
    """The web app (which decodes each upload and sends the pixels) in front of ``model``."""
    name = name or f"bench-web-{wsgi_server}"
    with start_web_app(model.address, name=name, wsgi_server=wsgi_server) as web:
        yield web


def web_calls(web: ServerProcess) -> MakeCall:
    """Calls to a web app's JSON API, each posting the image as a multipart form."""
    return http_calls(predict_url(web))


def predict_url(web: ServerProcess) -> str:
    return f"{web.address}/api/predict"


@contextlib.contextmanager
def monolith() -> Iterator[MakeCall]:
    with start_monolith("random", name="bench-monolith") as server:
        yield http_calls(predict_url(server))


@contextlib.contextmanager
def model_in_web_process() -> Iterator[MakeCall]:
    with start_wsgi_app("benchmarks.systems.global_model_app:create_app", "bench-global", {}, None, 120.0,
                     "waitress") as server:
        yield http_calls(predict_url(server))


@contextlib.contextmanager
def ray_serve(max_batch: int) -> Iterator[MakeCall]:
    """Ray Serve with ``@serve.batch`` (an optional extra: ``pip install "ray[serve]"``)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/predict"
    argv = [sys.executable, "-m", "benchmarks.systems.ray_serve", "--port", str(port),
            "--max-batch", str(max_batch)]
    with ServerProcess("bench-ray-serve", argv, url, http_answers(url)).start(RAY_START_TIMEOUT_S):
        yield http_calls(url, raw=True)
