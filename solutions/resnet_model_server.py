"""The original write-up's model server: ResNet50 loaded once, a thread per request, over ZeroMQ.

    clients ──tcp──▶ ROUTER frontend ──▶ Server.serve (one loop, polling both sockets)
                           ▲                   │ each request: a new RequestHandler thread
                           │                   ▼
                           │             RequestHandler ── its own DEALER ──┐
                           │             RequestHandler ── its own DEALER ──┤ inproc://
                           └── the loop ◀── DEALER backend ◀────────────────┘

One loop polls two sockets. A request on the ROUTER frontend comes with its envelope (the identity
frame the ROUTER put in front, and, from a REQ client, an empty delimiter): the loop starts a new
``RequestHandler`` thread for it, with no limit on how many run at once. The thread classifies the
image, opens its own DEALER socket to the backend and sends the envelope back with the reply; the
loop passes whatever the backend receives to the frontend, which routes it by the identity frame.

It answers two request formats, told apart by their field: the original's
``{"payload": "<base64>", "_rid": ...}`` → ``{"preds": "label : 0.12345, ..."}`` (the original's
client and web app send it), and the lab's ``{"image": "<base64>", "id": ...}`` →
``{"predictions": [...]}`` (notebook 04's test client, notebook 06's web app and ``ModelClient``
send it). One context for the process, one socket per thread. Stopping terminates
the context: every blocking call then raises ``zmq.ContextTerminated``, each thread closes its
socket, and ``stop`` joins them all.

    python -m solutions.resnet_model_server --address tcp://127.0.0.1:5576 --weights random
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
from model_server.protocol import (
    DEFAULT_ADDRESS,
    DEFAULT_TOP,
    MAX_REQUEST_BYTES,
    ORIGINAL_PAYLOAD,
    ORIGINAL_PREDS,
    ORIGINAL_RID,
    ErrorCode,
    RequestError,
    encode_error,
    error_reply_for,
    format_original_preds,
    is_original,
)

log = logging.getLogger("resnet_model_server")

BACKEND_ADDRESS = "inproc://resnet-request-handlers"
#: The message of the error reply to a request that is not one frame after its envelope.
ONE_FRAME = "send the request as one JSON frame"


def envelope_and_body(frames: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """The envelope of a message the frontend received, and its body (the frames after it)."""
    cut = 2 if len(frames) > 2 and frames[1] == b"" else 1
    return frames[:cut], frames[cut:]


class RequestHandler(threading.Thread):
    """One request's thread: classify its image, send the reply to the backend, and end."""

    def __init__(self, context: zmq.Context, envelope: list[bytes], body: list[bytes],
                 classifier: Classifier, top: int = DEFAULT_TOP):
        super().__init__(name="request-handler")
        self.context = context
        self.envelope = envelope
        self.body = body
        self.classifier = classifier
        self.top = top

    def reply_to(self, request: bytes) -> bytes:
        """The reply frame for one request frame, in the request's own format; never raises."""
        original = False
        request_id = None
        try:
            try:
                message = json.loads(request)
            except (UnicodeDecodeError, ValueError, RecursionError):
                raise RequestError("the request is not valid JSON", ErrorCode.BAD_JSON) from None
            if not isinstance(message, dict):
                raise RequestError(f'the request must be a JSON object like {{"{ORIGINAL_PAYLOAD}": "<base64>"}}',
                                   ErrorCode.BAD_JSON)
            original = is_original(message)
            field, id_field = (ORIGINAL_PAYLOAD, ORIGINAL_RID) if original else ("image", "id")
            if isinstance(message.get(id_field), str):
                request_id = message[id_field]
            if not isinstance(message.get(field), str):
                raise RequestError(f'the request needs a "{field}" field: the image file in base64')
            try:
                image = base64.b64decode(message[field], validate=True)
            except (binascii.Error, ValueError):
                raise RequestError(f'"{field}" is not valid base64', ErrorCode.BAD_BASE64) from None
            predictions, _ = classify_image(self.classifier, image, self.top)
            if original:
                reply: dict = {ORIGINAL_PREDS: format_original_preds(predictions)}
                if request_id is not None:
                    reply[ORIGINAL_RID] = request_id
            else:
                reply = {"predictions": [asdict(p) for p in predictions]}
                if request_id is not None:
                    reply["id"] = request_id
            return json.dumps(reply).encode()
        except RequestError as error:
            return encode_error(error.code, error.message, request_id, original=original)
        except Exception:
            log.exception("request failed")
            return encode_error(ErrorCode.INTERNAL, "the server failed on this request", request_id,
                                original=original)

    def run(self) -> None:
        """Reply to this thread's request through its own DEALER socket, then close it."""
        if len(self.body) == 1:
            reply = self.reply_to(self.body[0])
        else:
            reply = encode_error(ErrorCode.BAD_REQUEST, ONE_FRAME)
        try:
            handler = self.context.socket(zmq.DEALER)
        except zmq.ContextTerminated:  # the server is stopping: nobody will read the reply
            return
        except zmq.ZMQError:
            if self.context.closed:  # the server has stopped
                return
            raise
        try:
            handler.connect(BACKEND_ADDRESS)
            handler.send_multipart([*self.envelope, reply])
        except zmq.ContextTerminated:
            pass
        finally:
            handler.close(linger=0)


class Server:
    """A ROUTER frontend on ``address``, a DEALER backend on ``inproc://``, a thread per request."""

    def __init__(self, address: str, classifier: Classifier):
        self.address = address
        self.classifier = classifier
        self.context = zmq.Context()
        self.loop: threading.Thread | None = None
        #: The request handlers started and not yet seen to end (``serve`` forgets ended ones).
        self.handlers: list[RequestHandler] = []

    def start(self) -> None:
        """Bind both sockets, start the loop's thread, and return."""
        frontend = self.context.socket(zmq.ROUTER)
        frontend.linger = 0
        frontend.maxmsgsize = MAX_REQUEST_BYTES
        frontend.bind(self.address)
        backend = self.context.socket(zmq.DEALER)
        backend.linger = 0
        backend.bind(BACKEND_ADDRESS)
        # The two sockets move to the loop's thread; this thread never touches them again.
        self.loop = threading.Thread(target=self.serve, args=(frontend, backend), name="server-loop")
        self.loop.start()

    def serve(self, frontend: zmq.Socket, backend: zmq.Socket) -> None:
        """Poll both sockets: a request starts a handler; a reply goes out through the frontend."""
        poller = zmq.Poller()
        poller.register(frontend, zmq.POLLIN)
        poller.register(backend, zmq.POLLIN)
        try:
            while True:
                ready = dict(poller.poll())
                if frontend in ready:
                    envelope, body = envelope_and_body(frontend.recv_multipart())
                    handler = RequestHandler(self.context, envelope, body, self.classifier)
                    self.handlers = [h for h in self.handlers if h.is_alive()]
                    try:
                        handler.start()
                    except RuntimeError:  # no thread left: the limit a thread per request runs into
                        log.exception("could not start a thread for a request; it is answered busy")
                        frontend.send_multipart([*envelope, error_reply_for(
                            body[0] if body else b"", ErrorCode.BUSY,
                            "the server cannot start another thread now; try again in a moment")])
                    else:
                        self.handlers.append(handler)
                if backend in ready:
                    frontend.send_multipart(backend.recv_multipart())
        except zmq.ContextTerminated:
            pass
        finally:
            frontend.close(linger=0)
            backend.close(linger=0)

    def stop(self) -> None:
        """Terminate the context, then wait for the loop and for every request handler to end."""
        self.context.term()
        if self.loop is not None:
            self.loop.join()
        for handler in self.handlers:
            handler.join()

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _main(argv: list[str] | None = None) -> int:
    """Given: parse the command line, build ResNet50 once, serve until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default=DEFAULT_ADDRESS, help="where clients connect (%(default)s)")
    parser.add_argument("--weights", default="auto", help="auto, imagenet, random or an .h5 file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    from model_server.models.tensorflow_model import ResNet50Classifier

    # Built before binding: an open port means the model is ready. Thread-safe, so one is shared.
    classifier = ResNet50Classifier.load(args.weights)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    with Server(args.address, classifier):
        log.info("ready on %s (a thread per request, %s weights)", args.address, classifier.weights)
        stopping.wait()
        log.info("stopping")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
