"""A stand-in model server: a real ZeroMQ ROUTER in a thread that answers as a script says.

``ScriptedRouter(answer)`` binds a free loopback port and calls ``answer(request)`` with each
request's frames (the routing envelope taken off). What ``answer`` returns is what the client
gets: reply bytes at once, ``Later(seconds, reply)`` after a delay, or ``None``: no reply (a
dropped request). Without ``answer`` it never replies: a hung server; with ``made_up_reply`` it
answers every request at once with ``MADE_UP_REPLY``, under the request's id.

The tests use it for servers that are silent, busy, forgetful or too late;
``benchmarks.sections.curve_encryption`` for a server that answers at once, so that a round trip
is the transport alone. It lives here, not in ``tests/``, so that the benchmark can import it.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import zmq

from model_server.protocol import UNTRAINED, Prediction, PredictReply, Timings, encode_reply, request_id_of
from model_server.serving.broker import split_envelope

#: Milliseconds the thread waits on its socket before looking whether it should stop.
POLL_MS = 20
#: Seconds the thread has to bind its socket, and to end once told to.
THREAD_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Later:
    """A reply sent ``seconds`` after its request arrived; requests that come meanwhile are
    answered in their own time."""

    seconds: float
    reply: bytes


Answer = bytes | Later | None
Script = Callable[[list[bytes]], Answer]


#: What a stand-in answers a prediction with: one made-up class, each stage timed at a millisecond.
MADE_UP_REPLY = PredictReply([Prediction("tabby", "n02123045", 1.0)], UNTRAINED, "resnet50",
                             Timings(1.0, 1.0, 1.0, 3.0))


def _never(request: list[bytes]) -> None:
    return None


def made_up_reply(request: list[bytes]) -> bytes:
    """``MADE_UP_REPLY`` to ``request``, under its id: the script of a server that answers at once."""
    return encode_reply(dataclasses.replace(MADE_UP_REPLY, id=request_id_of(request[0])))


class ScriptedRouter:
    """A ROUTER on ``address`` that answers each request with ``answer(request)``.

    ``received`` lists every request's frames in arrival order, answered or not, and is appended
    to before ``answer`` is called (so a script can count: "drop the first one"); with
    ``remember=False`` it stays empty, for a benchmark that sends thousands of photos.
    ``configure(socket)`` is called before the socket binds, e.g. to make it a CURVE server. The
    socket lives in the thread, on ``context`` (the process's shared one by default).
    """

    def __init__(self, answer: Script = _never, *, context: zmq.Context[zmq.Socket[bytes]] | None = None,
                 configure: Callable[[zmq.Socket[bytes]], None] | None = None, remember: bool = True,
                 name: str = "scripted-router") -> None:
        self.received: list[list[bytes]] = []
        self.address = ""
        self._answer, self._configure, self._remember = answer, configure, remember
        self._context = context or zmq.Context.instance()
        self._stop, self._bound = threading.Event(), threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()
        if not self._bound.wait(THREAD_TIMEOUT_S):
            raise RuntimeError(f"the {name} thread did not bind its socket")
        if self._failure is not None:
            raise self._failure

    def __enter__(self) -> ScriptedRouter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _serve(self) -> None:
        router = self._context.socket(zmq.ROUTER)
        router.linger = 0
        try:
            try:
                if self._configure is not None:
                    self._configure(router)
                self.address = f"tcp://127.0.0.1:{router.bind_to_random_port('tcp://127.0.0.1')}"
            except BaseException as error:  # raised again in the thread that started this one
                self._failure = error
                return
            finally:
                self._bound.set()
            self._answer_until_stopped(router)
        finally:
            router.close()

    def _answer_until_stopped(self, router: zmq.Socket[bytes]) -> None:
        pending: list[tuple[float, list[bytes]]] = []  # (when it is due, the reply's frames)
        while not self._stop.is_set():
            wait_ms = POLL_MS
            if pending:
                wait_ms = max(0, min(wait_ms, int((pending[0][0] - time.monotonic()) * 1000)))
            if router.poll(wait_ms, zmq.POLLIN):
                envelope, request = split_envelope(router.recv_multipart())
                if self._remember:
                    self.received.append(request)
                answer = self._answer(request)
                if isinstance(answer, Later):
                    pending.append((time.monotonic() + answer.seconds, [*envelope, answer.reply]))
                    pending.sort(key=lambda due: due[0])
                elif answer is not None:
                    router.send_multipart([*envelope, answer])
            while pending and pending[0][0] <= time.monotonic():
                router.send_multipart(pending.pop(0)[1])

    def close(self) -> None:
        """Stop answering and close the socket; replies still waiting are never sent."""
        self._stop.set()
        self._thread.join(THREAD_TIMEOUT_S)


@contextmanager
def scripted_routers(**options: Any) -> Iterator[Callable[[Script], ScriptedRouter]]:
    """``start(answer)`` starts a ``ScriptedRouter`` (with ``options``); all stop on exit."""
    started: list[ScriptedRouter] = []

    def start(answer: Script = _never) -> ScriptedRouter:
        started.append(ScriptedRouter(answer, **options))
        return started[-1]

    try:
        yield start
    finally:
        for router in started:
            router.close()
