"""Each benchmarked way of serving ResNet50: start it, hand out clients, stop it.

Every system is a context manager yielding ``make_call``: a function that builds one client (one
per load thread) whose call classifies one image and raises on failure.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

import requests

from lab.load import Call
from lab.processes import (
    ServerProcess,
    free_port,
    http_answers,
    start_model_server,
    start_monolith,
    start_web_app,
    start_wsgi_app,
)
from model_server.client import ModelClient
from model_server.serving.settings import flags


MakeCall = Callable[[], Call]
#: Seconds a benchmark request may take before it counts as an error.
REQUEST_TIMEOUT_S = 120.0
#: Ray starts its own cluster processes first.
RAY_START_TIMEOUT_S = 300.0


def _client_calls(server: ServerProcess, binary: bool = True) -> MakeCall:
    client = ModelClient(server.address, timeout=REQUEST_TIMEOUT_S, retries=0, binary=binary)
    return lambda: client.predict


def _http_calls(url: str) -> MakeCall:
    def make_call() -> Call:
        session = requests.Session()

        def call(image: bytes) -> object:
            response = session.post(url, files={"file": ("photo.jpg", image, "image/jpeg")},
                                    timeout=REQUEST_TIMEOUT_S)
            response.raise_for_status()
            return response

        return call

    return make_call


@contextlib.contextmanager
def model_server(
    workers: int, max_batch: int, binary: bool = True, extra: tuple[str, ...] = ()
) -> Iterator[MakeCall]:
    """Our server through ``ModelClient``; ``binary=False`` sends the original's base64 JSON."""
    args = ("--max-batch", str(max_batch), *extra)
    with start_model_server("random", workers=workers, extra_args=args, name="bench-model") as server:
        yield _client_calls(server, binary)


def runtime_args(runtime: str, precision: str) -> tuple[str, ...]:
    """The model server's flags for a runtime and precision."""
    return tuple(flags(runtime=runtime, precision=precision))


@contextlib.contextmanager
def web_app(wsgi_server: str, workers: int, max_batch: int) -> Iterator[MakeCall]:
    args = tuple(flags(max_batch=max_batch))
    with start_model_server("random", workers=workers, extra_args=args, name="bench-model") as model, \
            start_web_app(model.address, name="bench-web", wsgi_server=wsgi_server) as web:
        yield _http_calls(f"{web.address}/api/predict")


@contextlib.contextmanager
def monolith() -> Iterator[MakeCall]:
    with start_monolith("random", name="bench-monolith") as server:
        yield _http_calls(f"{server.address}/api/predict")


@contextlib.contextmanager
def model_in_web_process() -> Iterator[MakeCall]:
    with start_wsgi_app("benchmarks.global_model_app:create_app", "bench-global", {}, None, 120.0,
                     "waitress") as server:
        yield _http_calls(f"{server.address}/api/predict")


@contextlib.contextmanager
def ray_serve(max_batch: int) -> Iterator[MakeCall]:
    """Ray Serve with ``@serve.batch`` (an optional extra: ``pip install "ray[serve]"``)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/predict"
    argv = [sys.executable, "-m", "benchmarks.ray_serve", "--port", str(port),
            "--max-batch", str(max_batch)]
    with ServerProcess("bench-ray-serve", argv, url, http_answers(url)).start(RAY_START_TIMEOUT_S):
        def make_call() -> Call:
            session = requests.Session()

            def call(image: bytes) -> object:
                response = session.post(url, data=image, timeout=REQUEST_TIMEOUT_S)
                response.raise_for_status()
                return response

            return call

        yield make_call
