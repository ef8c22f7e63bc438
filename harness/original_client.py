"""The original write-up's test client, in Python 3: a DEALER with its own name, one frame, ``preds`` back.

What the original's client does (its ``Model-Server-Folder/test_client.py``, and the same lines
in its Flask app), step for step:

1. name a DEALER socket with a fresh uuid4 (``zmq.IDENTITY``): the server's ROUTER then knows this
   connection by that name, and its replies carry it;
2. send one frame, with no empty delimiter (a DEALER adds none, unlike a REQ):
   ``{"payload": "<the image file in base64>", "_rid": "<the same uuid>"}``;
3. poll every second until a reply comes, and read its ``"preds"`` string.

It has no limit: if the server is down, or loses the request, it polls forever. ``max_wait_s``
keeps that by default (``None``); give it a number to stop waiting after that many seconds, as
a notebook cell or a check must.

Written for Python 2, the original passes a ``str`` identity and base64's ``bytes`` to JSON;
Python 3 wants the identity as ``bytes`` and base64 decoded to ``str`` for JSON
(``protocol.encode_original_request`` does the latter). The original also makes and terminates a
``zmq.Context`` per call; here every call uses the process's one context, as ZeroMQ advises.
"""

from __future__ import annotations

import time
import uuid

import zmq

from model_server.protocol import DEFAULT_ADDRESS, decode_original_reply, encode_original_request

#: How long one poll waits, as in the original: a reply is read as soon as it comes, and after
#: each empty second the client looks at its clock (the original only loops again).
POLL_INTERVAL_S = 1.0


class NoReplyYet(TimeoutError):
    """``max_wait_s`` passed without a reply. The original client would still be waiting."""


def predict(image: bytes, address: str = DEFAULT_ADDRESS, max_wait_s: float | None = None,
            poll_s: float = POLL_INTERVAL_S) -> str:
    """The server's ``"preds"`` string for one image file, asked as the original's client asks.

    ``max_wait_s=None`` waits forever, as the original does. An error reply raises
    ``ServerError``; no reply within ``max_wait_s`` raises ``NoReplyYet``.
    """
    rid = str(uuid.uuid4())
    client: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
    client.setsockopt(zmq.IDENTITY, rid.encode())
    client.connect(address)
    try:
        client.send(encode_original_request(image, rid))
        give_up = None if max_wait_s is None else time.monotonic() + max_wait_s
        while True:
            wait_s = poll_s if give_up is None else min(poll_s, give_up - time.monotonic())
            if wait_s > 0 and client.poll(int(wait_s * 1000), zmq.POLLIN):
                return decode_original_reply(client.recv())
            if give_up is not None and time.monotonic() >= give_up:
                raise NoReplyYet(f"no reply from {address} within {max_wait_s:g} s; the original "
                                 "client has no limit and would still be waiting")
    finally:
        client.close(linger=0)
