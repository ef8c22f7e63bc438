"""Notebook 04's steps: each runs one piece of your model server, or your test client, where you see it.

- ``show_envelopes``: ``envelope_and_body`` on what a ROUTER receives from a REQ and from a DEALER;
- ``show_replies``: ``RequestHandler.reply_to`` on a few requests, no sockets;
- ``one_handler``: one ``RequestHandler`` thread behind a DEALER backend on ``inproc://``;
- ``one_request``: a ``Server`` started on a free port, one request from a raw REQ socket, stopped;
- ``drops_the_first``: the test client against a server that drops its first request.

Every socket read has a timeout, and every socket and server a step opens is closed before it
returns, whatever the code under test does (a step that had to give up says so).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import zmq

from harness.processes import free_port
from harness.stubs import ScriptedRouter

#: Seconds a step waits for a reply, for a thread to end, or for a server to stop.
WAIT_S = 30.0
#: Bytes of a request printed (an image in base64 is long), and of a reply; the rest is cut.
REQUEST_BYTES, REPLY_BYTES = 80, 400


def shown(frame: bytes, limit: int = REPLY_BYTES) -> str:
    """A frame as Python writes bytes, cut after ``limit`` bytes."""
    return repr(frame[:limit]) + (f" … ({len(frame)} bytes)" if len(frame) > limit else "")


def frames_shown(frames: list[bytes], limit: int = REPLY_BYTES) -> str:
    return "[" + ", ".join(shown(frame, limit) for frame in frames) + "]"


def show_envelopes(envelope_and_body: Callable[[list[bytes]], tuple[list[bytes], list[bytes]]]) -> None:
    """What ``envelope_and_body`` makes of a REQ client's message and of a DEALER client's."""
    messages = (("a REQ client (the test client)", [b"\x00k\x8bEg", b"", b'{"image": "..."}']),
                ("a DEALER client (the original's)", [b"0f6c2a9e-uuid", b'{"payload": "..."}']),
                ("a REQ client whose request has two frames", [b"\x00k\x8bEh", b"", b"part 1", b"", b"part 2"]))
    for who, frames in messages:
        envelope, body = envelope_and_body(frames)
        print(f"{who}: the ROUTER received {frames}\n    envelope {envelope}\n    body     {body}")


def show_replies(handler_class: type, classifier: Any, requests: list[tuple[str, bytes]]) -> None:
    """``reply_to`` of one handler (no sockets, no thread) on each ``(what, request frame)``."""
    handler = handler_class(None, [], [], classifier)
    for what, frame in requests:
        began = time.perf_counter()
        reply = handler.reply_to(frame)
        took = (time.perf_counter() - began) * 1000
        print(f"{what}:\n    request {shown(frame, REQUEST_BYTES)}\n    reply   {shown(reply)}   "
              f"({took:.0f} ms)")


def _in_a_thread(call: Callable[[], object]) -> bool:
    """Call ``call`` in a daemon thread; whether it returned within ``WAIT_S``."""
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(WAIT_S)
    return not thread.is_alive()


def one_handler(handler_class: type, backend_address: str, classifier: Any, envelope: list[bytes],
                body: list[bytes]) -> None:
    """Start one handler thread behind a DEALER backend bound to ``backend_address``; print the
    frames the backend received, and whether the handler closed its socket."""
    context = zmq.Context()
    backend = context.socket(zmq.DEALER)
    backend.linger = 0
    backend.bind(backend_address)
    try:
        handler = handler_class(context, envelope, body, classifier)
        handler.start()
        print(f"started a {handler_class.__name__} thread with envelope {envelope} and body "
              f"{frames_shown(body, REQUEST_BYTES)}")
        frames = backend.recv_multipart() if backend.poll(WAIT_S * 1000) else None
        handler.join(WAIT_S)
    finally:
        backend.close(linger=0)
    if frames is None:
        print(f"the backend received nothing within {WAIT_S:g} s")
    else:
        print("the backend received", frames_shown(frames))
    print("the handler thread has", "ended" if not handler.is_alive() else "NOT ended")
    if _in_a_thread(context.term):
        print("context.term() returned: every socket of the context is closed")
    else:
        print(f"context.term() still waits after {WAIT_S:g} s: a socket the handler opened is not closed")


def _port_free(address: str) -> bool:
    host, port = address.rsplit("/", 1)[1].split(":")
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError:
            return False
    return True


def _threads(*names: str) -> dict[str, int]:
    alive = [thread.name for thread in threading.enumerate() if thread.is_alive()]
    return {name: alive.count(name) for name in names}


def one_request(server_class: type, classifier: Any, request: bytes) -> None:
    """A server on a free port, one request from a raw REQ socket, the server stopped: what the
    REQ received, the server's threads meanwhile, and whether the port is free afterwards."""
    address = f"tcp://127.0.0.1:{free_port()}"
    server = server_class(address, classifier)
    server.start()
    print(f"started on {address}; threads: {_threads('server-loop', 'request-handler')}")
    client = zmq.Context.instance().socket(zmq.REQ)
    client.linger = 0
    try:
        client.connect(address)
        client.send(request)
        print(f"the REQ sent one frame, {shown(request, REQUEST_BYTES)}; its socket adds the empty delimiter, the "
              "ROUTER the identity")
        frames = client.recv_multipart() if client.poll(WAIT_S * 1000) else None
    finally:
        client.close(linger=0)
    if frames is None:
        print(f"the REQ received nothing within {WAIT_S:g} s")
    else:
        print("the REQ received", frames_shown(frames), "(the envelope taken off)")
    if _in_a_thread(server.stop):
        print(f"stop() returned; threads: {_threads('server-loop', 'request-handler')}; the port is "
              + ("free again" if _port_free(address) else "STILL TAKEN"))
    else:
        print(f"stop() did not return within {WAIT_S:g} s")


def drops_the_first(test_client: ModuleType, answer: Callable[[bytes], bytes], image: bytes,
                    timeout_s: float = 1.0, retries: int = 2) -> None:
    """The test client against a server that drops the first request it receives and answers the
    others with ``answer(request)``; prints each attempt as the server saw it, and the reply."""
    seen: list[float] = []

    def script(request: list[bytes]) -> bytes | None:
        seen.append(time.perf_counter())
        return None if len(seen) == 1 else answer(request[0])

    with ScriptedRouter(script, name="drops-the-first") as server:
        began = time.perf_counter()
        reply = test_client.request_with_retries(server.address, test_client.encode_request(image),
                                                 timeout_s, retries)
        took = time.perf_counter() - began
    for number, when in enumerate(seen, 1):
        fate = "dropped" if number == 1 else "answered"
        print(f"attempt {number} reached the server at {when - began:5.2f} s: {fate}")
    print(f"the reply came after {took:.2f} s: {shown(reply)}")
    for label, probability in test_client.read_reply(reply):
        print(f"  {probability:7.2%}  {label}")
