"""The pieces notebook 03 puts together to show how a ROUTER, a DEALER and workers route messages.

Everything runs in the notebook's own process, over real sockets: ``receive`` reads one multipart
message but never waits longer than a timeout; ``describe`` says what each frame of it is;
``Workers`` are threads with their own sockets that say who answered; ``Proxy`` joins a ROUTER
frontend to a DEALER backend with ``zmq.proxy_steerable`` in a thread, the shape of the model
server of notebook 04. ``Workers`` and ``Proxy`` are context managers: leaving the ``with``
block stops their threads and closes their sockets, so no cell leaves anything running.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence

import zmq

#: Seconds a read waits for a message before giving up: every message here is local.
RECEIVE_TIMEOUT_S = 2.0
#: Milliseconds a worker waits on its socket before looking whether it should stop.
WORKER_POLL_MS = 50
#: Seconds a thread has to end once told to.
STOP_TIMEOUT_S = 5.0

ReplyTo = Callable[[Sequence[bytes], bytes], list[bytes]]
_names = itertools.count(1)


class NoMessage(TimeoutError):
    """Nothing arrived within the timeout."""


def receive(socket: zmq.Socket, timeout_s: float = RECEIVE_TIMEOUT_S) -> list[bytes]:
    """One multipart message from ``socket``, or ``NoMessage`` after ``timeout_s``."""
    if not socket.poll(timeout_s * 1000, zmq.POLLIN):
        raise NoMessage(f"no message within {timeout_s:g} s")
    return socket.recv_multipart()


def describe(frames: Sequence[bytes]) -> str:
    """One line per frame: its bytes and its role (routing identity, empty delimiter, body)."""
    try:
        delimiter = list(frames).index(b"")
    except ValueError:
        delimiter = -1
    lines = []
    for index, frame in enumerate(frames):
        if index < delimiter:
            role = "identity: who sent it (added by a ROUTER on the way)"
        elif index == delimiter:
            role = "empty delimiter: the envelope ends here"
        else:
            role = "body"
        lines.append(f"frame {index}: {frame!r:<32} {len(frame):>3} bytes  {role}")
    return "\n".join(lines)


def loopback_endpoint(socket: zmq.Socket) -> str:
    """Bind ``socket`` to a free TCP port on 127.0.0.1 and return the endpoint to connect to."""
    return f"tcp://127.0.0.1:{socket.bind_to_random_port('tcp://127.0.0.1')}"


def inproc_endpoint(role: str) -> str:
    """A fresh ``inproc://`` name, so that running a cell again never finds the old one bound."""
    return f"inproc://{role}-{next(_names)}"


class Workers:
    """Worker threads, each with its own socket connected to ``address``, answering who they are.

    ``kind="rep"``: REP sockets, which hide the envelope (the zguide's ``mtserver`` workers).
    ``kind="dealer"``: DEALER sockets, which see the whole envelope; ``reply_to(frames, body)``
    builds each reply from it. ``seen`` lists ``(worker, frames received)`` in arrival order.
    """

    def __init__(self, context: zmq.Context, address: str, names: Sequence[str], kind: str = "rep",
                 reply_to: ReplyTo | None = None):
        if kind not in ("rep", "dealer"):
            raise ValueError(f"kind is 'rep' or 'dealer', not {kind!r}")
        if kind == "dealer" and reply_to is None:
            raise ValueError("a DEALER worker needs reply_to to build its replies")
        self.seen: list[tuple[str, list[bytes]]] = []
        self._context, self._address, self._kind, self._reply_to = context, address, kind, reply_to
        self._stop = threading.Event()
        self._ready = threading.Barrier(len(names) + 1)
        self._threads = [threading.Thread(target=self._work, args=(name,), name=f"worker-{name}",
                                          daemon=True) for name in names]

    def __enter__(self) -> Workers:
        for thread in self._threads:
            thread.start()
        self._ready.wait(STOP_TIMEOUT_S)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(STOP_TIMEOUT_S)

    def _work(self, name: str) -> None:
        worker = self._context.socket(zmq.REP if self._kind == "rep" else zmq.DEALER)
        worker.linger = 0
        try:
            worker.connect(self._address)
            self._ready.wait(STOP_TIMEOUT_S)
            while not self._stop.is_set():
                if not worker.poll(WORKER_POLL_MS, zmq.POLLIN):
                    continue
                frames = worker.recv_multipart()
                self.seen.append((name, frames))
                answer = f"{name} answered {frames[-1].decode(errors='replace')!r}".encode()
                worker.send_multipart([answer] if self._kind == "rep" else self._reply_to(frames, answer))
        finally:
            worker.close()


class Proxy:
    """A ROUTER frontend on a loopback TCP port and a DEALER backend on ``inproc://``, joined by
    ``zmq.proxy_steerable`` in a thread; ``address`` is where clients connect, ``backend``
    where workers do. Leaving the ``with`` block sends ``TERMINATE`` on the control socket."""

    def __init__(self, context: zmq.Context):
        self._context = context
        self.backend = inproc_endpoint("backend")
        self._control = inproc_endpoint("control")
        self.address = ""
        self._bound = threading.Event()
        self._thread = threading.Thread(target=self._run, name="proxy", daemon=True)

    def __enter__(self) -> Proxy:
        self._thread.start()
        if not self._bound.wait(STOP_TIMEOUT_S):
            raise RuntimeError("the proxy did not bind its sockets")
        return self

    def __exit__(self, *exc_info: object) -> None:
        control = self._context.socket(zmq.PAIR)
        control.linger = 0
        try:
            control.connect(self._control)
            control.send(b"TERMINATE")
            self._thread.join(STOP_TIMEOUT_S)
        finally:
            control.close()

    def _run(self) -> None:
        frontend = self._context.socket(zmq.ROUTER)
        backend = self._context.socket(zmq.DEALER)
        control = self._context.socket(zmq.PAIR)
        for socket in (frontend, backend, control):
            socket.linger = 0
        try:
            self.address = loopback_endpoint(frontend)
            backend.bind(self.backend)
            control.bind(self._control)
            self._bound.set()
            zmq.proxy_steerable(frontend, backend, None, control)
        finally:
            for socket in (frontend, backend, control):
                socket.close()
