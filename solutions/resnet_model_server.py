"""The original write-up's model server: ResNet50 loaded once, answering over ZeroMQ.

    clients (REQ) ──tcp──▶ ROUTER frontend ◀─ zmq.proxy ─▶ DEALER backend ──inproc──▶ N workers (REP)

The ROUTER keeps track of which client sent what (an identity frame in front of each request);
the proxy passes every message across unchanged, envelope and all; the DEALER hands requests to
the worker threads in turn, and each worker's REP socket sends its reply back along the same
envelope. One context for the process, one socket per thread. Stopping terminates the context:
every blocking call in every thread then raises ``zmq.ContextTerminated``, and each thread closes
its own sockets and returns.

    python -m solutions.resnet_model_server --address tcp://127.0.0.1:5576 --workers 2 --weights random
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import logging
import signal
import sys
import threading
from dataclasses import asdict

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
        """The reply frame for one request frame; every failure becomes an error reply."""
        request_id = None
        try:
            try:
                message = json.loads(request)
            except (UnicodeDecodeError, ValueError, RecursionError):
                raise RequestError("the request is not valid JSON") from None
            if not isinstance(message, dict):
                raise RequestError('the request must be a JSON object like {"image": "<base64>"}')
            if isinstance(message.get("id"), str):
                request_id = message["id"]
            if not isinstance(message.get("image"), str):
                raise RequestError('the request needs an "image" field: the image file in base64')
            try:
                image = base64.b64decode(message["image"], validate=True)
            except (binascii.Error, ValueError):
                raise RequestError('"image" is not valid base64') from None
            predictions, _ = classify_image(self.classifier, image, self.top)
        except RequestError as error:
            return encode_error(error.code, error.message, request_id)
        except Exception:
            log.exception("request failed")
            return encode_error(ErrorCode.INTERNAL, "the server failed on this request", request_id)
        reply: dict = {"predictions": [asdict(p) for p in predictions]}
        if request_id is not None:
            reply["id"] = request_id
        return json.dumps(reply).encode()

    def serve(self, context: zmq.Context, backend_address: str) -> None:
        """Answer requests from the backend, one at a time, until the context is terminated."""
        worker = context.socket(zmq.REP)
        worker.connect(backend_address)
        try:
            while True:
                request, *extra = worker.recv_multipart()
                if extra:
                    worker.send(encode_error(ErrorCode.BAD_REQUEST, "send the request as one JSON frame"))
                else:
                    worker.send(self.reply_to(request))
        except zmq.ContextTerminated:
            pass
        finally:
            worker.close(linger=0)


class Server:
    """A ROUTER frontend on ``address``, ``workers`` request handlers behind a DEALER, a proxy between."""

    def __init__(self, address: str, classifier: Classifier, workers: int = DEFAULT_WORKERS):
        self.address = address
        self.classifier = classifier
        self.workers = workers
        self.context = zmq.Context()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        """Bind both sockets, start the workers and the proxy thread, and return."""
        frontend = self.context.socket(zmq.ROUTER)
        frontend.linger = 0
        frontend.maxmsgsize = MAX_REQUEST_BYTES
        frontend.bind(self.address)
        backend = self.context.socket(zmq.DEALER)
        backend.linger = 0
        backend.bind(BACKEND_ADDRESS)
        handler = RequestHandler(self.classifier)
        for number in range(self.workers):
            self.threads.append(threading.Thread(
                target=handler.serve, args=(self.context, BACKEND_ADDRESS), name=f"worker-{number}"))
        # The two sockets move to the proxy thread; this thread never touches them again.
        self.threads.append(threading.Thread(target=self.relay, args=(frontend, backend), name="proxy"))
        for thread in self.threads:
            thread.start()

    def relay(self, frontend: zmq.Socket, backend: zmq.Socket) -> None:
        """Pass messages between frontend and backend until the context is terminated."""
        try:
            zmq.proxy(frontend, backend)
        except zmq.ContextTerminated:
            pass
        finally:
            frontend.close(linger=0)
            backend.close(linger=0)

    def stop(self) -> None:
        """Terminate the context (every thread closes its socket and returns) and wait for them."""
        self.context.term()
        for thread in self.threads:
            thread.join()

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
