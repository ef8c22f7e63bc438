"""The original write-up's test client, made reliable: a REQ socket and the zguide's Lazy Pirate pattern.

The original's client is a DEALER that polls until a reply comes, for ever (``harness/original_client.py``
keeps it as it is, for the notebook to compare). This one uses a REQ socket and sends the lab's JSON,
``{"image": "<base64>"}`` → ``{"predictions": [...]}``, which your server and the production one
both read, and which gives each prediction's probability as a number.

A REQ socket that sent a request and got no reply is stuck: it refuses to send again until the
reply comes, and it may never come. So the client polls with a timeout, and on a timeout throws
that socket away (linger 0, so nothing waits to be sent) and sends again on a fresh one, a bounded
number of times.

    python -m solutions.test_client photo.jpg other.png --address tcp://127.0.0.1:5576
"""

from __future__ import annotations

import argparse
import base64
import json
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
    """The lab's request: ``{"image": "<the file in base64>"}`` as UTF-8 bytes."""
    return json.dumps({"image": base64.b64encode(image).decode("ascii")}).encode()


def read_reply(reply: bytes) -> list[tuple[str, float]]:
    """``[(label, probability), ...]`` most probable first; an error reply raises ``ServerError``."""
    message = json.loads(reply)
    if "error" in message:
        raise ServerError(message["error"]["code"], message["error"]["message"])
    ranked = sorted(message["predictions"], key=lambda p: p["probability"], reverse=True)
    return [(p["label"], p["probability"]) for p in ranked]


def request_with_retries(
    address: str, request: bytes, timeout_s: float = REQUEST_TIMEOUT_S, retries: int = REQUEST_RETRIES
) -> bytes:
    """Send ``request`` and return the reply; up to ``1 + retries`` attempts, each on a fresh socket."""
    context = zmq.Context.instance()
    for _ in range(1 + retries):
        client = context.socket(zmq.REQ)
        client.connect(address)
        try:
            client.send(request)
            if client.poll(timeout_s * 1000, zmq.POLLIN):
                return client.recv()
        finally:
            client.close(linger=0)
    raise NoReply(f"no reply from {address} after {1 + retries} attempts of {timeout_s:g} s")


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
