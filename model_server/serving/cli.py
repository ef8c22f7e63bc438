"""The command line of ``python -m model_server``: load ResNet50 once and answer requests over
ZeroMQ until stopped.

``python -m model_server worker --connect tcp://HOST:PORT`` runs only workers, joining a model
server whose backend listens on TCP (``--backend-address``), for example from a GPU machine;
with ``--supervise`` a light parent process starts a new one when it dies or hangs.
``python -m model_server keygen DIR`` writes the CURVE keys that let it listen beyond loopback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from dataclasses import replace

from ..keys import KeyFileError
from ..protocol import PRECISIONS, RUNTIMES
from .security import InsecureAddress, check_exposure, worker_keys
from .settings import ENV_PREFIX, ServerSettings
from .worker_supervisor import (
    START_ATTEMPTS,
    SUPERVISE_FLAG,
    AlivePipe,
    WorkerSupervisor,
    is_supervised_child,
)

log = logging.getLogger(__name__)


def _add_worker_arguments(parser: argparse.ArgumentParser, defaults: ServerSettings) -> None:
    parser.add_argument("--weights", default=defaults.weights,
                        help="auto, imagenet, random, or a path to an .h5 file (default: %(default)s)")
    parser.add_argument("--runtime", default=defaults.runtime, choices=RUNTIMES,
                        help="what runs the model; openvino needs the [openvino] extra (default: %(default)s)")
    parser.add_argument("--precision", default=defaults.precision, choices=PRECISIONS,
                        help="bf16 only with openvino, on a CPU with AVX512_BF16 or AMX (default: %(default)s)")
    parser.add_argument("--openvino-cache", default=defaults.openvino_cache,
                        help="folder of the converted OpenVINO models (default: ~/.cache/resnet_zmq_lab/openvino)")
    parser.add_argument("--workers", type=int, default=defaults.workers,
                        help="worker request handlers (default: %(default)s)")
    parser.add_argument("--max-batch", type=int, default=defaults.max_batch,
                        help="most images per forward pass; 1 switches batching off (default: %(default)s)")
    parser.add_argument("--max-delay-ms", type=float, default=defaults.max_delay_ms,
                        help="longest wait for images still being decoded (default: %(default)s)")
    parser.add_argument("--intra-op-threads", type=int, default=defaults.intra_op_threads,
                        help="TensorFlow threads inside one operation; 0: one per core (default: %(default)s)")
    parser.add_argument("--inter-op-threads", type=int, default=defaults.inter_op_threads,
                        help="TensorFlow operations run at once; 0: TensorFlow decides (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help="seed of the untrained weights (default: %(default)s)")
    parser.add_argument("--max-pixels", type=int, default=defaults.max_pixels,
                        help="refuse images with more pixels (default: %(default)s)")
    parser.add_argument("--drain-seconds", type=float, default=defaults.drain_seconds,
                        help="on stop, time allowed for requests in flight (default: %(default)s)")
    parser.add_argument("--heartbeat-interval-s", type=float, default=defaults.heartbeat_interval_s,
                        help="seconds between heartbeats of the broker and remote workers "
                        "(default: %(default)s)")
    parser.add_argument("--heartbeat-liveness", type=int, default=defaults.heartbeat_liveness,
                        help="heartbeats missed before the other side is given up (default: %(default)s)")
    parser.add_argument("--hang-timeout-s", type=float, default=defaults.hang_timeout_s,
                        help="a forward pass or an image decode running longer is given up as hung "
                        "(default: %(default)s)")
    parser.add_argument("--log-level", default=defaults.log_level,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace, least_workers: int) -> None:
    if args.runtime not in RUNTIMES or args.precision not in PRECISIONS:  # choices skip defaults
        parser.error(f"--runtime must be one of {', '.join(RUNTIMES)} and --precision one of "
                     f"{', '.join(PRECISIONS)}; got {args.runtime!r} and {args.precision!r}")
    if args.workers < least_workers:
        parser.error(f"--workers must be at least {least_workers}")
    if args.max_batch < 1:
        parser.error("--max-batch must be at least 1")
    if args.max_delay_ms < 0:
        parser.error("--max-delay-ms must not be negative")
    if args.heartbeat_interval_s <= 0 or args.heartbeat_liveness < 1:
        parser.error("--heartbeat-interval-s must be positive and --heartbeat-liveness at least 1")
    if args.hang_timeout_s <= 0:
        parser.error("--hang-timeout-s must be positive")


def parse_settings(argv: list[str] | None = None) -> ServerSettings:
    defaults = ServerSettings.from_env()
    parser = argparse.ArgumentParser(
        prog="python -m model_server",
        description="Serve Keras ResNet50 over ZeroMQ: a ROUTER frontend for clients, a DEALER "
        f"backend to worker threads. Every flag can also be set as {ENV_PREFIX}<FLAG>. "
        "'python -m model_server worker --help' tells how to run workers on another machine; "
        "'python -m model_server keygen --help' how to make the keys needed to listen beyond it.",
    )
    parser.add_argument("--address", default=defaults.address,
                        help="where clients connect (default: %(default)s)")
    parser.add_argument("--backend-address", default=defaults.backend_address,
                        help="also accept remote workers here, e.g. tcp://127.0.0.1:5577")
    parser.add_argument("--max-queue", type=int, default=defaults.max_queue,
                        help="requests in the server at once; beyond, 'busy' at once (default: %(default)s)")
    parser.add_argument("--secret-key", default=defaults.secret_key, metavar="FILE",
                        help="the server's CURVE secret key (server.key_secret from 'keygen'): "
                        "encrypt and authenticate every connection")
    parser.add_argument("--authorized-clients", default=defaults.authorized_clients, metavar="DIR",
                        help="with --secret-key: public keys (*.key) allowed to send requests")
    parser.add_argument("--authorized-workers", default=defaults.authorized_workers, metavar="DIR",
                        help="with --secret-key: public keys (*.key) allowed to join as workers")
    parser.add_argument("--insecure-public", action="store_true", default=defaults.insecure_public,
                        help="listen on a non-loopback address without keys (refused otherwise)")
    parser.add_argument("--request-timeout-s", type=float, default=defaults.request_timeout_s,
                        help="deadline of a request that names none in \"deadline_ms\" (default: %(default)s)")
    _add_worker_arguments(parser, defaults)
    args = parser.parse_args(argv)
    _check(parser, args, least_workers=0)
    if args.max_queue < 1:
        parser.error("--max-queue must be at least 1")
    if args.request_timeout_s <= 0:
        parser.error("--request-timeout-s must be positive")
    if args.workers == 0 and not args.backend_address:
        parser.error("--workers 0 needs --backend-address: someone has to answer the requests")
    settings = replace(defaults, **vars(args))
    try:
        check_exposure(settings)
    except InsecureAddress as error:
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
    parser.add_argument("--secret-key", default=defaults.secret_key, metavar="FILE",
                        help="this worker's CURVE secret key (workers/NAME.key_secret from 'keygen')")
    parser.add_argument("--server-public-key", default=defaults.server_public_key, metavar="FILE",
                        help="the model server's public key (server.key from 'keygen')")
    parser.add_argument(SUPERVISE_FLAG, action="store_true", default=defaults.supervise,
                        help="run the worker as the child of a light process (no TensorFlow) that "
                        "starts a new one when it exits with an error or a signal, or is silent "
                        "for --heartbeat-interval-s x --heartbeat-liveness (hung); it gives up "
                        f"after {START_ATTEMPTS} failures in a row before the worker was ready")
    _add_worker_arguments(parser, defaults)
    args = parser.parse_args(argv)
    _check(parser, args, least_workers=1)
    connect = args.connect
    del args.connect
    return connect, replace(defaults, **vars(args))


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


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
    stop = _stop_on_signals()

    from ..models.classifier import RuntimeUnavailable
    from ..models.weights import WeightsUnavailable
    from .server import ModelServer, ServerStartError

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
    what = (f"{classifier.model_name} on {classifier.runtime} {classifier.precision}, weights "
            f"{classifier.weights}, {settings.workers} worker(s)" if classifier else "no local workers")
    remote = f", remote workers on {settings.backend_address}" if settings.backend_address else ""
    curve = ", CURVE keys required" if settings.secret_key else ""
    log.info("model server ready on %s: %s%s%s, started in %.1f s",
             settings.address, what, remote, curve, time.perf_counter() - started)
    server.serve(stop)
    return 0


def run_worker(argv: list[str]) -> int:
    started = time.perf_counter()
    try:
        connect, settings = parse_worker_settings(argv)
    except ValueError as error:
        print(f"model_server worker: {error}", file=sys.stderr)
        return 2
    _configure_logging(settings)
    stop = _stop_on_signals()
    if settings.supervise and not is_supervised_child():
        return WorkerSupervisor(argv, settings).run(stop)
    alive = AlivePipe.from_environment(on_orphaned=stop.set)

    import zmq

    from ..models.classifier import RuntimeUnavailable
    from ..models.weights import WeightsUnavailable
    from .framing import WorkerHello
    from .remote_worker import POOL_ENDPOINT, BrokerLink
    from .request_handler import WORKER_NAME
    from .worker_pool import WorkerPool

    try:
        keys = worker_keys(settings)
        classifier = _load_classifier(settings)
    except (KeyFileError, WeightsUnavailable, RuntimeUnavailable) as error:
        log.error("%s", error)
        return 1
    context = zmq.Context.instance()
    pool = WorkerPool(classifier, settings, POOL_ENDPOINT, context)
    link = BrokerLink(connect, settings, context,
                      lambda: WorkerHello(WORKER_NAME, settings.workers, pool.batch_sizes), keys,
                      still_alive=alive.beat if alive else lambda: None)
    pool.start()
    log.info("%d worker(s) ready for %s: %s on %s %s, weights %s, started in %.1f s",
             settings.workers, connect, classifier.model_name, classifier.runtime,
             classifier.precision, classifier.weights, time.perf_counter() - started)
    link.run(stop)
    pool.stop()
    log.info("workers stopped")
    return 0


def _load_classifier(settings: ServerSettings):
    from ..models.runtimes import load_classifier
    from ..models.tensorflow_model import keras_without_plotting

    with keras_without_plotting():  # a server never plots
        return load_classifier(settings)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:
        return run_worker(argv[1:])
    if argv[:1] == ["keygen"]:
        from ..keys import main as keygen

        return keygen(argv[1:])
    return run_server(argv)

