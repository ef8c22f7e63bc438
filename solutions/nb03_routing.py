"""Notebook 03 exercises: reading a ROUTER's envelope, answering the one who asked, a worker that
answers in a loop until told to stop, and a proxy that joins clients to workers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import zmq

#: Milliseconds a worker waits for a request before looking again whether it should stop.
WORKER_POLL_MS = 100


def split_envelope(frames: Sequence[bytes]) -> tuple[list[bytes], list[bytes]]:
    """The identities before the empty delimiter, and the body frames after it."""
    if b"" not in frames:
        raise ValueError(f"no empty delimiter in {list(frames)!r}: this is not a request from a REQ socket")
    delimiter = list(frames).index(b"")
    return list(frames[:delimiter]), list(frames[delimiter + 1:])


def reply_to(frames: Sequence[bytes], body: bytes) -> list[bytes]:
    """The multipart reply to ``frames``: their envelope, the empty delimiter, then ``body``."""
    delimiter = list(frames).index(b"")
    return [*frames[:delimiter + 1], body]


def worker_loop(context: zmq.Context, address: str, answer: Callable[[bytes], bytes],
                stop: threading.Event) -> None:
    """Answer requests on a REP socket connected to ``address`` until ``stop`` is set; close it."""
    worker = context.socket(zmq.REP)
    worker.linger = 0
    try:
        worker.connect(address)
        while not stop.is_set():
            if worker.poll(WORKER_POLL_MS, zmq.POLLIN):
                worker.send(answer(worker.recv()))
    finally:
        worker.close()


def run_proxy(context: zmq.Context, frontend_address: str, backend_address: str) -> None:
    """A ROUTER for clients and a DEALER for workers, joined by ``zmq.proxy`` until the context ends."""
    frontend = context.socket(zmq.ROUTER)
    backend = context.socket(zmq.DEALER)
    try:
        frontend.bind(frontend_address)
        backend.bind(backend_address)
        zmq.proxy(frontend, backend)
    except zmq.ContextTerminated:
        pass
    finally:
        frontend.close(linger=0)
        backend.close(linger=0)
