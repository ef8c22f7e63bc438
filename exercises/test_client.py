"""The original write-up's test client, made reliable: a REQ socket and the zguide's Lazy Pirate pattern.

The original's client is a DEALER that polls until a reply comes, for ever (``harness/original_client.py``
keeps it as it is, for the notebook to compare). This one uses a REQ socket and sends the lab's JSON,
``{"image": "<base64>"}`` → ``{"predictions": [...]}``, which your server and the production one
both read, and which gives each prediction's probability as a number.

A REQ socket that sent a request and got no reply is stuck: it refuses to send again until the
reply comes, and it may never come. So the client polls with a timeout, and on a timeout throws
that socket away (linger 0, so nothing waits to be sent) and sends again on a fresh one, a bounded
number of times.

    python -m exercises.test_client photo.jpg other.png --address tcp://127.0.0.1:5576
"""

from __future__ import annotations

import argparse
import base64  # you will need it
import json  # you will need it
import sys
import time
from pathlib import Path

import zmq

from model_server.protocol import DEFAULT_ADDRESS, ServerError

#: Seconds to wait for one reply, and how many times a request is sent again after a timeout.
REQUEST_TIMEOUT_S = 10.0
REQUEST_RETRIES = 2

class NoReply(TimeoutError):
    """The server did not answer any attempt: it is down, or too busy to answer in time."""

def encode_request(image: bytes) -> bytes:
    """The lab's request for one image file, ready for ``socket.send()``.

    A JSON object with one field, ``"image"``: the base64 of the file's bytes as a text string
    (``base64.b64encode`` gives bytes; JSON needs a ``str``). Return the JSON encoded as UTF-8.
    """
    raise NotImplementedError("write encode_request in exercises/test_client.py")

def read_reply(reply: bytes) -> list[tuple[str, float]]:
    """The predictions in a reply frame as ``[(label, probability), ...]``, most probable first.

    A good reply has ``"predictions"``: a list of ``{"label", "wnid", "probability"}``; sort them
    by probability even if the server listed them in another order. An error reply has
    ``"error": {"code", "message"}`` instead: raise ``ServerError(code, message)``.
    """
    raise NotImplementedError("write read_reply in exercises/test_client.py")

def request_with_retries(
    address: str, request: bytes, timeout_s: float = REQUEST_TIMEOUT_S, retries: int = REQUEST_RETRIES
) -> bytes:
    """Send ``request`` to the server at ``address`` and return its reply frame, never hanging.

    Each attempt: a fresh ``zmq.REQ`` socket from ``zmq.Context.instance()``, connect, send, then
    ``poll`` for at most ``timeout_s`` seconds (poll takes milliseconds). A reply: return it. No
    reply: close that socket with ``linger=0`` and try again on a new one; ``1 + retries``
    attempts in all, then raise ``NoReply`` saying how many attempts of how long. Close every
    socket you open.
    """
    raise NotImplementedError("write request_with_retries in exercises/test_client.py")

def _main(argv: list[str] | None = None) -> int:
    """Given: classify each image file named on the command line and print what came back."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", type=Path, help="image files to classify")
    parser.add_argument("--address", default=DEFAULT_ADDRESS, help="the model server (%(default)s)")
    parser.add_argument("--timeout", type=float, default=REQUEST_TIMEOUT_S, help="seconds per attempt")
    parser.add_argument("--retries", type=int, default=REQUEST_RETRIES, help="attempts after the first")
    args = parser.parse_args(argv)
    failures = 0
    for path in args.images:
        started = time.perf_counter()
        try:
            reply = request_with_retries(args.address, encode_request(path.read_bytes()),
                                         args.timeout, args.retries)
            predictions = read_reply(reply)
        except (OSError, ServerError) as error:
            print(f"{path}: {error}", file=sys.stderr)
            failures += 1
            continue
        print(f"{path}: {(time.perf_counter() - started) * 1000:.1f} ms round trip")
        for label, probability in predictions:
            print(f"  {probability:7.2%}  {label}")
    return 1 if failures else 0

if __name__ == "__main__":
    sys.exit(_main())
