"""The model server with nothing but a ZeroMQ REQ socket and the lab's JSON.

``ModelClient`` adds timeouts, retries, request ids and typed replies; this module shows what is
underneath, and that the server still understands a client that knows none of that. It sends
the lab's plainest request, ``{"image": <base64>}`` (no ``"top"``, no ``"id"``), and still never
waits forever: it polls for the reply with a timeout.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import zmq


class NoReply(TimeoutError):
    """The server did not answer within the timeout (it may be down, or busy)."""


def plain_request(image: bytes) -> bytes:
    """The lab's plainest request for an image file: only the base64 ``"image"`` field."""
    return json.dumps({"image": base64.b64encode(image).decode("ascii")}).encode()


def ask(address: str, frame: bytes, timeout: float) -> bytes:
    """Send one frame on a fresh REQ socket and return the reply frame, or raise ``NoReply``."""
    context = zmq.Context.instance()
    socket = context.socket(zmq.REQ)
    socket.linger = 0
    try:
        socket.connect(address)
        socket.send(frame)
        if not socket.poll(timeout * 1000, zmq.POLLIN):
            raise NoReply(f"no reply from {address} within {timeout:g} s")
        return socket.recv()
    finally:
        socket.close()


def readable(reply: bytes, limit: int = 2000) -> str:
    """A reply frame as indented JSON, cut at ``limit`` characters."""
    message: Any = json.loads(reply)
    text = json.dumps(message, indent=2)
    return text if len(text) <= limit else text[:limit] + "\n…"
