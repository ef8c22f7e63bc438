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

    python -m exercises.resnet_model_server --address tcp://127.0.0.1:5576 --weights random
"""

from __future__ import annotations

import argparse
import base64  # you will need it
import binascii  # you will need it
import json  # you will need it
import logging
import signal
import sys
import threading
from dataclasses import asdict  # you will need it

import zmq

from model_server.models.classifier import Classifier
from model_server.models.pipeline import classify_image  # you will need it
from model_server.protocol import (
    DEFAULT_ADDRESS,
    DEFAULT_TOP,
    MAX_REQUEST_BYTES,
    ORIGINAL_PAYLOAD,  # you will need these
    ORIGINAL_PREDS,
    ORIGINAL_RID,
    ErrorCode,
    RequestError,
    encode_error,
    format_original_preds,
    is_original,
)

log = logging.getLogger("resnet_model_server")

BACKEND_ADDRESS = "inproc://resnet-request-handlers"
#: The message of the error reply to a request that is not one frame after its envelope.
ONE_FRAME = "send the request as one JSON frame"


def envelope_and_body(frames: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """The envelope of a message the frontend received, and its body (the frames after it).

    The ROUTER puts the identity of the connection in front of every message: ``frames[0]``. A
    DEALER client (the original's) sends its request as it is, so its message is
    ``[identity, request]``; a REQ client puts an empty delimiter frame before its request, so
    its message is ``[identity, b"", request]``. Return ``(envelope, body)`` as two lists: the
    envelope is the identity, and the empty delimiter too when the second frame is one (an
    identity is never empty, so an empty second frame can only be a delimiter); the body is the
    rest. Unlike notebook 03's ``split_envelope``, the envelope keeps the delimiter: it goes back
    in front of the reply as it came, and a REQ client drops a reply without it.
    """
    raise NotImplementedError("write envelope_and_body in exercises/resnet_model_server.py")


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
        """The reply frame (JSON bytes) for one request frame, in the request's own format; never raises.

        Two formats, told apart by their fields (``is_original(message)``; the field names are
        constants in ``model_server.protocol``):

        - the original's: ``{ORIGINAL_PAYLOAD: "<the image file in base64>", ORIGINAL_RID: "<id>"}``
          (``"payload"``, ``"_rid"``) → ``{ORIGINAL_PREDS: format_original_preds(predictions)}``
          (``"preds"``: the original's string of the top 3), with the ``"_rid"`` echoed back;
        - the lab's: ``{"image": "<base64>", "id": "<id>"}`` → ``{"predictions": [{"label",
          "wnid", "probability"}, ...]}`` (``dataclasses.asdict`` of each), with the ``"id"`` echoed.

        ``classify_image(self.classifier, image, self.top)`` decodes the file and returns a pair,
        ``(predictions, timings)``: keep the predictions (a list of ``Prediction`` dataclasses).
        It raises ``RequestError`` for an image it cannot use. Anything wrong becomes an error
        reply in the request's format, ``encode_error(code, message, request_id, original=...)``:
        with ``original=True`` it also carries ``"preds": "error: <code>: <message>"``, which the
        original's client reads. The codes are the production server's (``model_server.protocol``):

        - not JSON, or JSON but not an object → ``ErrorCode.BAD_JSON``
          (raise ``RequestError(message, ErrorCode.BAD_JSON)``);
        - no image string in its field → ``ErrorCode.BAD_REQUEST`` (``RequestError(message)``);
        - an image string that is not base64 → ``ErrorCode.BAD_BASE64``;
        - a ``RequestError`` from ``classify_image`` keeps its own code;
        - any other exception → ``ErrorCode.INTERNAL``, logged with its traceback
          (``log.exception(...)``: the checks show it to you). An exception that escapes here
          would end the thread without a reply, and its client would wait forever.

        Echo the request's id (``"id"`` or ``"_rid"``, when it is a string) in every reply, the
        error replies too: a client that sent several requests tells the replies apart by it.
        """
        raise NotImplementedError("write RequestHandler.reply_to in exercises/resnet_model_server.py")

    def run(self) -> None:
        """The thread's work: compute the reply to ``self.body``, send it to the backend, end.

        A body of one frame is a request: ``self.reply_to(self.body[0])``; any other body gets
        ``encode_error(ErrorCode.BAD_REQUEST, ONE_FRAME)``. Then open this thread's own
        ``zmq.DEALER`` socket from ``self.context``, connect it to ``BACKEND_ADDRESS``, send
        ``[*self.envelope, reply]`` as one multipart message, and close the socket (``linger=0``)
        whatever happens. If the server stops meanwhile, opening or sending raises
        ``zmq.ContextTerminated`` (or ``zmq.ZMQError`` once ``self.context.closed``): return quietly.
        """
        raise NotImplementedError("write RequestHandler.run in exercises/resnet_model_server.py")


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
        """Bind both sockets, start the loop's thread, and return.

        A ``zmq.ROUTER`` frontend bound to ``self.address`` (``linger = 0``, ``maxmsgsize =
        MAX_REQUEST_BYTES``); a ``zmq.DEALER`` backend bound to ``BACKEND_ADDRESS`` (``linger = 0``).
        Bind them here, not in the thread, so that a taken port fails ``start`` itself. Then start
        ``self.loop``: a thread running ``self.serve(frontend, backend)``. Return at once.
        """
        raise NotImplementedError("write Server.start in exercises/resnet_model_server.py")

    def serve(self, frontend: zmq.Socket, backend: zmq.Socket) -> None:
        """The loop (the original's ``Server.run``): poll both sockets until the server stops.

        Register both with a ``zmq.Poller`` for ``zmq.POLLIN`` and loop on ``poll()``:

        - a message on the frontend: ``envelope_and_body`` it, make a ``RequestHandler(self.context,
          envelope, body, self.classifier)``, keep it in ``self.handlers`` (drop the ones no
          longer ``is_alive()`` as you go, or the list grows forever) and ``start()`` it;
        - a message on the backend (a handler's ``[*envelope, reply]``): send it on through the
          frontend as it is (``recv_multipart``, ``send_multipart``).

        When the server stops, ``poll`` raises ``zmq.ContextTerminated``: then close both sockets
        (``linger=0``), so that the port is free again, and return.
        """
        raise NotImplementedError("write Server.serve in exercises/resnet_model_server.py")

    def stop(self) -> None:
        """Stop serving and free the port; return once the loop and every handler have ended.

        ``self.context.term()`` makes every blocking ZeroMQ call in every thread raise
        ``zmq.ContextTerminated`` (your ``serve`` and ``run`` then close their sockets) and returns
        when all sockets are closed. Then ``join`` the loop's thread, and then each handler in
        ``self.handlers`` (one still classifying finishes first, then finds the context gone).
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
