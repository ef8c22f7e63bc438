"""The command line of ``python -m model_server``: load ResNet50 once and answer requests over
ZeroMQ until stopped.

``python -m model_server worker --connect tcp://HOST:PORT`` runs only workers, joining a model
server whose backend listens on TCP (``--backend-address``), for example from a GPU machine;
with ``--supervise`` a light parent process starts a new one when it dies or hangs.
``python -m model_server keygen DIR`` writes the CURVE keys that let it listen beyond loopback.
With ``--http-address`` the server and each worker serve ``/livez``, ``/readyz`` and ``/metrics``
from before the model loads (live, not ready) until they stop (``http_endpoints``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields, replace
from typing import TYPE_CHECKING

from ..environment import MODEL_SERVER_PREFIX
from ..keys import KeyFileError
from .health import Starting
from .http_endpoints import HttpEndpoints, HttpEndpointsUnavailable
from .lifecycle import ServerStartError, stop_on_signals
from .security import InsecureAddress, check_exposure, worker_keys
from .settings import InvalidSettings, ServerSettings, add_flags
from .worker_supervisor import (
    START_ATTEMPTS,
    AlivePipe,
    WorkerSupervisor,
    is_supervised_child,
)

if TYPE_CHECKING:
    from ..models.classifier import Classifier

log = logging.getLogger(__name__)


#: The settings a remote worker takes besides ``--connect``; the server takes all but
#: ``server_public_key`` and ``supervise``.
WORKER_FLAGS = (
    "weights", "runtime", "precision", "openvino_cache", "workers", "max_batch", "max_delay_ms",
    "intra_op_threads", "inter_op_threads", "seed", "max_pixels", "drain_seconds",
    "heartbeat_interval_s", "heartbeat_liveness", "hang_timeout_s", "log_level", "secret_key",
    "server_public_key", "supervise", "http_address",
)
SERVER_FLAGS = tuple(f.name for f in fields(ServerSettings)
                     if f.name not in ("server_public_key", "supervise"))


def parse_settings(argv: list[str] | None = None) -> ServerSettings:
    defaults = ServerSettings.from_env()
    parser = argparse.ArgumentParser(
        prog="python -m model_server",
        description="Serve Keras ResNet50 over ZeroMQ: a ROUTER frontend for clients, a DEALER "
        f"backend to worker threads. Every flag can also be set as {MODEL_SERVER_PREFIX}<FLAG>. "
        "'python -m model_server worker --help' tells how to run workers on another machine; "
        "'python -m model_server keygen --help' how to make the keys needed to listen beyond it.",
    )
    add_flags(parser, defaults, SERVER_FLAGS)
    settings = replace(defaults, **vars(parser.parse_args(argv)))
    try:
        settings.validate()
        check_exposure(settings)
    except (InvalidSettings, InsecureAddress) as error:
        parser.error(str(error))
    return settings


def parse_worker_settings(argv: list[str]) -> tuple[str, ServerSettings]:
    defaults = ServerSettings.from_env()
    parser = argparse.ArgumentParser(
        prog="python -m model_server worker",
        description="Load the model and answer requests for a model server started with "
        "--backend-address; join and leave at any time.",
    )
    parser.add_argument("--connect", required=True,
                        help="the model server's backend address, e.g. tcp://10.0.0.5:5577")
    add_flags(parser, defaults, WORKER_FLAGS, help={
        "secret_key": "this worker's CURVE secret key (workers/NAME.key_secret from 'keygen')",
        "supervise": "run the worker as the child of a light process (no TensorFlow) that "
        "starts a new one when it exits with an error or a signal, or is silent for "
        "--heartbeat-interval-s x --heartbeat-liveness (hung); it gives up after "
        f"{START_ATTEMPTS} failures in a row before the worker was ready",
    })
    args = parser.parse_args(argv)
    connect = args.connect
    del args.connect
    settings = replace(defaults, **vars(args))
    try:
        settings.validate(remote_worker=True)
    except InvalidSettings as error:
        parser.error(str(error))
    return connect, settings


def _configure_logging(settings: ServerSettings) -> None:
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")


def run_server(argv: list[str] | None) -> int:
    started = time.perf_counter()
    try:
        settings = parse_settings(argv)
    except ValueError as error:
        print(f"model_server: {error}", file=sys.stderr)
        return 2
    _configure_logging(settings)
    stop = stop_on_signals()
    try:
        with _http_endpoints(settings) as endpoints:
            return _serve(settings, stop, endpoints, started)
    except HttpEndpointsUnavailable as error:
        log.error("%s", error)
        return 1


@contextmanager
def _http_endpoints(settings: ServerSettings) -> Iterator[HttpEndpoints | None]:
    """``/livez``, ``/readyz`` and ``/metrics`` on ``--http-address`` (``None`` when it is empty),
    saying "starting" until the process gives them its own probes; stopped on the way out."""
    if not settings.http_address:
        yield None
        return
    endpoints = HttpEndpoints(settings.http_address, Starting())
    try:
        yield endpoints
    finally:
        endpoints.stop()


def _serve(settings: ServerSettings, stop: threading.Event, endpoints: HttpEndpoints | None,
           started: float) -> int:
    from ..models.classifier import RuntimeUnavailable
    from ..models.weights import WeightsUnavailable
    from .server import ModelServer

    try:
        classifier = _load_classifier(settings) if settings.workers else None
        server = ModelServer(classifier, settings)
        server.bind()
    except ServerStartError as error:
        log.error("%s", error)
        return 1
    except (WeightsUnavailable, RuntimeUnavailable) as error:
        log.error("%s", error)
        return 1
    if endpoints is not None:
        endpoints.probes = server.probes
    what = (f"{classifier.model_name} on {classifier.runtime} {classifier.precision}, weights "
            f"{classifier.weights}, {settings.workers} worker(s)" if classifier else "no local workers")
    remote = f", remote workers on {settings.backend_address}" if settings.backend_address else ""
    curve = ", CURVE keys required" if settings.secret_key else ""
    log.info("model server ready on %s: %s%s%s%s, started in %.1f s",
             settings.address, what, remote, curve, _probes_at(endpoints),
             time.perf_counter() - started)
    server.serve(stop)
    return 0


def _probes_at(endpoints: HttpEndpoints | None) -> str:
    return "" if endpoints is None else f", /livez /readyz /metrics on {endpoints.url}"


def run_worker(argv: list[str]) -> int:
    started = time.perf_counter()
    try:
        connect, settings = parse_worker_settings(argv)
    except ValueError as error:
        print(f"model_server worker: {error}", file=sys.stderr)
        return 2
    _configure_logging(settings)
    stop = stop_on_signals()
    if settings.supervise and not is_supervised_child():
        return WorkerSupervisor(argv, settings).run(stop)
    alive = AlivePipe.from_environment(on_orphaned=stop.set)
    try:
        with _http_endpoints(settings) as endpoints:
            return _work(connect, settings, stop, alive, endpoints, started)
    except HttpEndpointsUnavailable as error:
        log.error("%s", error)
        return 1


def _work(connect: str, settings: ServerSettings, stop: threading.Event, alive: AlivePipe | None,
          endpoints: HttpEndpoints | None, started: float) -> int:
    import zmq
    from prometheus_client import CollectorRegistry

    from ..models.classifier import RuntimeUnavailable
    from ..models.weights import WeightsUnavailable
    from .framing import WorkerHello
    from .metrics import BrokerLinkCollector
    from .probes import RemoteWorkerProbes
    from .remote_worker import POOL_ENDPOINT, BrokerLink
    from .request_handler import WORKER_NAME
    from .worker_pool import WorkerPool

    try:
        keys = worker_keys(settings)
        classifier = _load_classifier(settings)
    except (KeyFileError, WeightsUnavailable, RuntimeUnavailable) as error:
        log.error("%s", error)
        return 1
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    registry = CollectorRegistry()
    pool = WorkerPool(classifier, settings, POOL_ENDPOINT, context, registry)
    link = BrokerLink(connect, settings, context,
                      lambda: WorkerHello(WORKER_NAME, settings.workers, pool.batch_sizes), keys,
                      still_alive=alive.beat if alive else lambda: None)
    registry.register(BrokerLinkCollector(link))
    pool.start()
    if endpoints is not None:
        endpoints.probes = RemoteWorkerProbes(settings, pool, link, registry)
    log.info("%d worker(s) ready for %s: %s on %s %s, weights %s%s, started in %.1f s",
             settings.workers, connect, classifier.model_name, classifier.runtime,
             classifier.precision, classifier.weights, _probes_at(endpoints),
             time.perf_counter() - started)
    link.run(stop)
    pool.stop()
    log.info("workers stopped")
    return 0


def _load_classifier(settings: ServerSettings) -> Classifier:
    from ..models.runtimes import load_classifier
    from ..models.tensorflow_model import keras_without_plotting

    with keras_without_plotting():  # a server never plots
        return load_classifier(settings.model_settings)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:
        return run_worker(argv[1:])
    if argv[:1] == ["keygen"]:
        from ..keys import main as keygen

        return keygen(argv[1:])
    return run_server(argv)

