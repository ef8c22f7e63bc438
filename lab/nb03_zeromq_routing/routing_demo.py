"""What notebook 03 gives you around your own code, to show how a ROUTER, a DEALER and workers route.

Everything runs in the notebook's own process, over real sockets: ``receive`` reads one multipart
message but never waits longer than a timeout; ``describe`` says what each frame of it is.
``Workers`` runs your ``worker_loop`` in threads; ``ThreadedServer`` runs your ``run_proxy`` and
your workers together, the shape of the model server of notebook 04. Both are context managers:
leaving the ``with`` block stops their threads (and says which one did not stop), so no cell
leaves anything running.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence

import zmq

from harness.processes import free_port

#: Seconds a read waits for a message before giving up: every message here is local.
RECEIVE_TIMEOUT_S = 2.0
#: Seconds a thread has to end once told to.
STOP_TIMEOUT_S = 5.0

Answer = Callable[[bytes], bytes]
#: ``worker_loop(context, address, answer, stop)`` and ``run_proxy(context, frontend, backend)``.
WorkerLoop = Callable[[zmq.Context, str, Answer, threading.Event], None]
RunProxy = Callable[[zmq.Context, str, str], None]
_names = itertools.count(1)


class NoMessage(TimeoutError):
    """Nothing arrived within the timeout."""


def receive(socket: zmq.Socket, timeout_s: float = RECEIVE_TIMEOUT_S) -> list[bytes]:
    """One multipart message from ``socket``, or ``NoMessage`` after ``timeout_s``."""
    if not socket.poll(int(timeout_s * 1000), zmq.POLLIN):
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


def who_answered(name: str) -> Answer:
    """A worker's answer that says who gave it: ``b"worker-1 answered 'hello'"``."""
    return lambda request: f"{name} answered {request.decode(errors='replace')!r}".encode()


class NotStopped(RuntimeError):
    """A thread was still running after it was told to stop."""


class Workers:
    """Your ``worker_loop`` in one thread per name, connected to ``address``, saying who answered.

    Leaving the ``with`` block sets ``stop`` and gives each thread ``STOP_TIMEOUT_S`` to return;
    one still running is named in a ``NotStopped`` error.
    """

    def __init__(self, worker_loop: WorkerLoop, context: zmq.Context, address: str, names: Sequence[str]):
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=worker_loop, name=name, daemon=True,
                                         args=(context, address, who_answered(name), self.stop))
                        for name in names]

    def __enter__(self) -> Workers:
        for thread in self.threads:
            thread.start()
        return self

    def alive(self) -> list[str]:
        """The names of the threads still running."""
        return [thread.name for thread in self.threads if thread.is_alive()]

    def stopped(self) -> list[str]:
        """Set ``stop``, wait for each thread; what went wrong, if anything."""
        self.stop.set()
        for thread in self.threads:
            thread.join(STOP_TIMEOUT_S)
        return [f"{thread.name} was still running {STOP_TIMEOUT_S:g} s after stop was set: does "
                "your worker_loop wait with a timeout and look at stop each time round?"
                for thread in self.threads if thread.is_alive()]

    def __exit__(self, *exc_info: object) -> None:
        problems = self.stopped()
        if problems and exc_info[0] is None:
            raise NotStopped("\n".join(problems))


class ThreadedServer:
    """Your ``run_proxy`` and ``worker_loop`` as one small server, with a context of its own.

    A ROUTER frontend on a free loopback TCP port (``address``, where clients connect), a DEALER
    backend on ``inproc://`` (``backend``), and one worker thread per name behind it; with no
    names, the proxy alone. Leaving the ``with`` block stops the workers (``stop``),
    then terminates ``context``, which is how ``zmq.proxy`` ends; ``context.term()`` waits for
    every socket of the context to be closed, so a socket left open is named in the error too.
    """

    def __init__(self, run_proxy: RunProxy, worker_loop: WorkerLoop | None = None, names: Sequence[str] = ()):
        if names and worker_loop is None:
            raise ValueError("workers need a worker_loop to run")
        self.context = zmq.Context()
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.backend = inproc_endpoint("backend")
        self.proxy = threading.Thread(target=run_proxy, name="proxy", daemon=True,
                                      args=(self.context, self.address, self.backend))
        self.workers = Workers(worker_loop or (lambda *_: None), self.context, self.backend, names)

    def __enter__(self) -> ThreadedServer:
        self.proxy.start()
        self.workers.__enter__()
        return self

    def alive(self) -> list[str]:
        """The names of the threads still running: the proxy's and the workers'."""
        return ([self.proxy.name] if self.proxy.is_alive() else []) + self.workers.alive()

    def __exit__(self, *exc_info: object) -> None:
        problems = self.workers.stopped()
        terminating = threading.Thread(target=self.context.term, name="context-term", daemon=True)
        terminating.start()
        self.proxy.join(STOP_TIMEOUT_S)
        terminating.join(STOP_TIMEOUT_S)
        if self.proxy.is_alive():
            problems.append(f"run_proxy was still running {STOP_TIMEOUT_S:g} s after context.term(): "
                            "does it call zmq.proxy, and return when that raises ContextTerminated?")
        elif terminating.is_alive():
            problems.append("context.term() is still waiting for a socket of this server to be "
                            "closed: does run_proxy close both of its sockets, and worker_loop its own?")
        if problems and exc_info[0] is None:
            raise NotStopped("\n".join(problems))
