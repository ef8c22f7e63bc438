"""``python -m model_server``: load ResNet50 once and answer requests over ZeroMQ until stopped."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from dataclasses import replace

from .settings import ENV_PREFIX, ServerSettings

log = logging.getLogger("model_server")


def parse_settings(argv: list[str] | None = None) -> ServerSettings:
    defaults = ServerSettings.from_env()
    parser = argparse.ArgumentParser(
        prog="python -m model_server",
        description="Serve Keras ResNet50 over ZeroMQ: a ROUTER frontend for clients, a DEALER "
        f"backend to worker threads. Every flag can also be set as {ENV_PREFIX}<FLAG>.",
    )
    parser.add_argument("--address", default=defaults.address,
                        help="where clients connect (default: %(default)s)")
    parser.add_argument("--weights", default=defaults.weights,
                        help="auto, imagenet, random, or a path to an .h5 file (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=defaults.workers,
                        help="worker request handlers (default: %(default)s)")
    parser.add_argument("--max-batch", type=int, default=defaults.max_batch,
                        help="most images per forward pass; 1 switches batching off (default: %(default)s)")
    parser.add_argument("--max-delay-ms", type=float, default=defaults.max_delay_ms,
                        help="longest wait for images still being decoded (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help="seed of the untrained weights (default: %(default)s)")
    parser.add_argument("--max-pixels", type=int, default=defaults.max_pixels,
                        help="refuse images with more pixels (default: %(default)s)")
    parser.add_argument("--drain-seconds", type=float, default=defaults.drain_seconds,
                        help="on stop, time allowed for requests in flight (default: %(default)s)")
    parser.add_argument("--log-level", default=defaults.log_level,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.max_batch < 1:
        parser.error("--max-batch must be at least 1")
    if args.max_delay_ms < 0:
        parser.error("--max-delay-ms must not be negative")
    return replace(defaults, **vars(args))


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    try:
        settings = parse_settings(argv)
    except ValueError as error:
        print(f"model_server: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    from .model import ResNet50Classifier, WeightsUnavailable
    from .server import ModelServer, ServerStartError

    try:
        classifier = ResNet50Classifier.load(settings.weights, seed=settings.seed)
        server = ModelServer(classifier, settings)
        server.bind()
    except (WeightsUnavailable, ServerStartError) as error:
        log.error("%s", error)
        return 1
    log.info(
        "model server ready on %s: %s, weights %s, %d worker(s), started in %.1f s",
        settings.address, classifier.model_name, classifier.weights, settings.workers,
        time.perf_counter() - started,
    )
    server.serve(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
