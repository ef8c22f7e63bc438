"""Notebook 03 exercises: reading a ROUTER's envelope, answering the one who asked, a worker that
answers in a loop until told to stop, and a proxy that joins clients to workers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import zmq

#: Milliseconds a worker waits for a request before looking again whether it should stop.
WORKER_POLL_MS = 100


def split_envelope(frames: Sequence[bytes]) -> tuple[list[bytes], list[bytes]]:
    """The identities before the empty delimiter, and the body frames after it.

    ``frames`` is what ``router.recv_multipart()`` returned for a request a REQ socket sent:
    zero or more identity frames (one per ROUTER it went through, the nearest first), an empty
    frame ``b""``, then the body. Return ``(identities, body_frames)`` as two lists, without the
    empty frame. With no empty frame at all, raise ``ValueError`` saying so.
    Example: ``[b"client-a", b"", b"hello"]`` → ``([b"client-a"], [b"hello"])``.
    """
    raise NotImplementedError("write split_envelope in exercises/nb03_routing.py")


def reply_to(frames: Sequence[bytes], body: bytes) -> list[bytes]:
    """The multipart reply that ``router.send_multipart()`` needs to answer ``frames``.

    Keep the whole envelope of the request (every identity frame, in the same order: the ROUTER
    routes on the first and strips it; the ones behind it are for the hops further back), then
    the empty delimiter, then ``body`` as the last frame.
    Example: ``reply_to([b"client-a", b"", b"hello"], b"hi")`` → ``[b"client-a", b"", b"hi"]``.
    """
    raise NotImplementedError("write reply_to in exercises/nb03_routing.py")


def worker_loop(context: zmq.Context, address: str, answer: Callable[[bytes], bytes],
                stop: threading.Event) -> None:
    """Answer requests one after another on a REP socket until ``stop`` is set, then close it.

    Runs in a thread of its own. Open a REP socket from ``context`` (a socket belongs to the
    thread that uses it) and connect it to ``address``, where a DEALER is bound. Each request is
    one frame: send back ``answer(request)``. The REP socket takes the envelope off a request
    and puts it back on the reply, so you never see it.

    Stopping: someone sets ``stop`` and waits for this function to return. A ``recv()`` with
    nothing to read waits for ever and would never look at ``stop``; so wait for a request with
    ``worker.poll(WORKER_POLL_MS, zmq.POLLIN)``, which returns 0 after that many milliseconds
    with nothing to read, and look at ``stop`` each time round. Close the socket however the
    loop ends (``try: ... finally: worker.close()``).
    """
    raise NotImplementedError("write worker_loop in exercises/nb03_routing.py")


def run_proxy(context: zmq.Context, frontend_address: str, backend_address: str) -> None:
    """Join clients to workers with ``zmq.proxy`` until ``context`` is terminated; close both sockets.

    Runs in a thread of its own. Open two sockets from ``context``: the **frontend**, a ROUTER
    bound to ``frontend_address``, where clients' REQ sockets connect (it notes who sent each
    request, so that the reply goes back to them); the **backend**, a DEALER bound to
    ``backend_address`` (an ``inproc://`` name), where workers' REP sockets connect (it hands
    the requests to them in turn). Then call ``zmq.proxy(frontend, backend)``: it passes
    every message across, both ways, and never returns. It ends when someone calls
    ``context.term()``, by raising ``zmq.ContextTerminated``: catch that and return.
    ``context.term()`` waits until every socket of the context is closed, so close both of yours
    however this ends (``finally:``).
    """
    raise NotImplementedError("write run_proxy in exercises/nb03_routing.py")
