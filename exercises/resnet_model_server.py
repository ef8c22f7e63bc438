"""The original write-up's model server: ResNet50 loaded once, answering over ZeroMQ.

    clients (REQ) ──tcp──▶ ROUTER frontend ◀─ zmq.proxy ─▶ DEALER backend ──inproc──▶ N workers (REP)

The ROUTER keeps track of which client sent what (an identity frame in front of each request);
the proxy passes every message across unchanged, envelope and all; the DEALER hands requests to
the worker threads in turn, and each worker's REP socket sends its reply back along the same
envelope. One context for the process, one socket per thread. Stopping terminates the context:
every blocking call in every thread then raises ``zmq.ContextTerminated``, and each thread closes
its own sockets and returns.

    python -m exercises.resnet_model_server --address tcp://127.0.0.1:5576 --workers 2 --weights random
"""

from __future__ import annotations

import argparse
import base64  # noqa: F401 (you will need it)
import binascii  # noqa: F401 (you will need it)
import json  # noqa: F401 (you will need it)
import logging
import signal
import sys
import threading
from dataclasses import asdict  # noqa: F401 (you will need it)

import zmq

from model_server.models.classifier import Classifier
from model_server.models.pipeline import classify_image
from model_server.protocol import DEFAULT_ADDRESS, DEFAULT_TOP, MAX_REQUEST_BYTES, ErrorCode, RequestError, encode_error

log = logging.getLogger("resnet_model_server")

BACKEND_ADDRESS = "inproc://resnet-workers"
DEFAULT_WORKERS = 2

class RequestHandler:
    """What one worker thread does: read a request, classify its image, send the reply."""

    def __init__(self, classifier: Classifier, top: int = DEFAULT_TOP):
        self.classifier = classifier
        self.top = top

    def reply_to(self, request: bytes) -> bytes:
        """The reply frame (JSON bytes) for one request frame; never raises.

        A request is ``{"image": "<the image file in base64>"}``, maybe with an ``"id"`` string to
        echo back. Classify the image with ``classify_image(self.classifier, image, self.top)``
        (it decodes the file and raises ``RequestError`` for one it cannot use) and reply
        ``{"predictions": [{"label", "wnid", "probability"}, ...]}`` (``dataclasses.asdict``).
        Anything wrong becomes ``encode_error(code, message, request_id)``: not JSON, not an
        object, no ``"image"`` string, bad base64 → ``ErrorCode.BAD_REQUEST`` (raise
        ``RequestError(message)``); a ``RequestError`` from ``classify_image`` keeps its own code;
        any other exception → ``ErrorCode.INTERNAL``, logged. An exception that escapes here
        would kill the worker thread.
        """
        raise NotImplementedError("write RequestHandler.reply_to in exercises/resnet_model_server.py")

    def serve(self, context: zmq.Context, backend_address: str) -> None:
        """The worker loop: answer requests from the backend, one at a time, until stopped.

        Open this thread's own ``zmq.REP`` socket from ``context`` and connect it to
        ``backend_address``. Loop: receive a request (``recv_multipart``: a request of more than
        one frame gets a ``BAD_REQUEST`` error reply), send ``self.reply_to(request)``. When the
        server stops, the blocking call raises ``zmq.ContextTerminated``: then close the socket
        (``linger=0``) and return.
        """
        raise NotImplementedError("write RequestHandler.serve in exercises/resnet_model_server.py")

class Server:
    """A ROUTER frontend on ``address``, ``workers`` request handlers behind a DEALER, a proxy between."""

    def __init__(self, address: str, classifier: Classifier, workers: int = DEFAULT_WORKERS):
        self.address = address
        self.classifier = classifier
        self.workers = workers
        self.context = zmq.Context()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        """Bind both sockets, start the worker threads and the proxy thread, and return.

        In this order: a ``zmq.ROUTER`` frontend bound to ``self.address`` (``linger = 0``,
        ``maxmsgsize = MAX_REQUEST_BYTES``); a ``zmq.DEALER`` backend bound to ``BACKEND_ADDRESS``
        (bound before any worker connects); ``self.workers`` threads each running
        ``RequestHandler(self.classifier).serve(self.context, BACKEND_ADDRESS)``; one thread
        running ``self.relay(frontend, backend)``. Keep every thread in ``self.threads``.
        Return at once: the threads do the serving.
        """
        raise NotImplementedError("write Server.start in exercises/resnet_model_server.py")

    def relay(self, frontend: zmq.Socket, backend: zmq.Socket) -> None:
        """The proxy thread: pass messages both ways between frontend and backend until stopped.

        ``zmq.proxy(frontend, backend)`` does the passing (envelopes and all) and returns only by
        raising ``zmq.ContextTerminated`` when the server stops; then close both sockets
        (``linger=0``) so that the port is free again.
        """
        raise NotImplementedError("write Server.relay in exercises/resnet_model_server.py")

    def stop(self) -> None:
        """Stop serving and free the port; return once every thread has ended.

        ``self.context.term()`` makes every blocking ZeroMQ call in every thread raise
        ``zmq.ContextTerminated`` (your ``serve`` and ``relay`` then close their sockets) and
        returns when all sockets are closed. Then ``join`` each thread in ``self.threads``.
        """
        raise NotImplementedError("write Server.stop in exercises/resnet_model_server.py")

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

def _main(argv: list[str] | None = None) -> int:
    """Given: parse the command line, build ResNet50 once, serve until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default=DEFAULT_ADDRESS, help="where clients connect (%(default)s)")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="worker threads (%(default)s)")
    parser.add_argument("--weights", default="auto", help="auto, imagenet, random or an .h5 file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    from model_server.models.tensorflow_model import ResNet50Classifier

    # Built before binding: an open port means the model is ready. Thread-safe, so one is shared.
    classifier = ResNet50Classifier.load(args.weights)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    with Server(args.address, classifier, args.workers):
        log.info("ready on %s (%d workers, %s weights)", args.address, args.workers, classifier.weights)
        stopping.wait()
        log.info("stopping")
    return 0

if __name__ == "__main__":
    sys.exit(_main())
