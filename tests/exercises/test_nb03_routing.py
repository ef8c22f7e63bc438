"""Checks for notebook 03's exercises, on plain frames and on real sockets: ``split_envelope`` and
``reply_to`` (a ROUTER and REQ clients on loopback TCP, and a ROUTER–DEALER proxy in between),
``worker_loop`` (a REP worker behind an ``inproc://`` DEALER, answering until told to stop) and
``run_proxy`` (REQ clients through it to REP workers and back, until its context is terminated).

The checks of one exercise never run another exercise: the proxy and the workers they need
around the learner's code are the checks' own (``_given_workers``, ``_given_proxy``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import zmq
from zmq.devices import ThreadDevice

from harness.processes import free_port
from lab.nb03_zeromq_routing.routing_demo import NoMessage, inproc_endpoint, loopback_endpoint, receive

#: Seconds a REQ waits for its reply: the sockets are local, but a reply a REQ drops never comes.
REPLY_TIMEOUT_S = 1.0
#: Seconds a worker or a proxy has to return once told to stop. The reference returns within
#: its poll interval (0.1 s); the rest is room for a loaded machine.
STOP_TIMEOUT_S = 3.0
#: Seconds a worker is left with nothing to do before it is told to stop: several of the
#: reference's poll intervals, so that a worker is waiting for a request, not just back from one.
IDLE_S = 0.5
#: Milliseconds the checks' own workers wait for a request before looking at their stop event.
GIVEN_POLL_MS = 50
KIND_NAMES = {zmq.REQ: "REQ", zmq.REP: "REP", zmq.DEALER: "DEALER", zmq.ROUTER: "ROUTER",
              zmq.PAIR: "PAIR", zmq.PUSH: "PUSH", zmq.PULL: "PULL", zmq.PUB: "PUB", zmq.SUB: "SUB"}


class _RecordingSocket(zmq.Socket):
    """A socket that notes where it was bound or connected, for the hints."""

    def bind(self, addr: str) -> Any:
        bound = super().bind(addr)
        self.context.calls.append((self, "bind", addr))
        return bound

    def connect(self, addr: str) -> Any:
        connected = super().connect(addr)
        self.context.calls.append((self, "connect", addr))
        return connected


class _RecordingContext(zmq.Context):
    """The context handed to the learner's code: it notes every socket opened, its kind, and
    where it was bound or connected."""

    _socket_class = _RecordingSocket
    terminating: threading.Thread | None = None

    def __init__(self) -> None:
        super().__init__()
        # Set past pyzmq's __setattr__, which would take them for socket options.
        object.__setattr__(self, "opened", [])
        object.__setattr__(self, "calls", [])

    def terminate(self) -> threading.Thread:
        """``term()`` in a thread of its own (it waits for every socket to be closed); once."""
        if self.terminating is None:
            object.__setattr__(self, "terminating", threading.Thread(
                target=self.term, name="check-term", daemon=True))
            self.terminating.start()
        return self.terminating

    def socket(self, socket_type: int, *args: Any, **kwargs: Any) -> Any:
        socket = super().socket(socket_type, *args, **kwargs)
        self.opened.append((socket, socket_type))
        return socket

    def kinds_at(self, address: str) -> list[tuple[str, str]]:
        """``(kind, "bind" or "connect")`` of each socket the learner used at ``address``."""
        kinds = {id(socket): kind for socket, kind in self.opened}
        return [(KIND_NAMES.get(kinds[id(socket)], str(kinds[id(socket)])), how)
                for socket, how, where in self.calls if where == address]

    def left_open(self) -> list[str]:
        return [KIND_NAMES.get(kind, str(kind)) for socket, kind in self.opened if not socket.closed]


class _Running:
    """An answer running in a thread of its own (as the notebook runs it): what it raised, if anything."""

    def __init__(self, attempt: Callable[..., Any], fn: Callable[..., Any], *args: Any):
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(attempt, fn, *args),
                                       name=f"answer-{getattr(fn, '__name__', 'fn')}", daemon=True)
        self.thread.start()

    def _run(self, attempt: Callable[..., Any], fn: Callable[..., Any], *args: Any) -> None:
        try:
            attempt(fn, *args)
        except BaseException as error:  # reported by the check, in the main thread
            self.error = error

    def raise_if_unwritten(self) -> None:
        """A stub's ``is not written yet`` failure, raised where the check can report it."""
        if isinstance(self.error, pytest.fail.Exception):
            raise self.error

    def ended(self, timeout_s: float) -> bool:
        self.thread.join(timeout_s)
        self.raise_if_unwritten()
        return not self.thread.is_alive()


@pytest.fixture
def nb03(load_answers):
    return load_answers("nb03_routing")


@pytest.fixture
def context():
    return zmq.Context.instance()


@pytest.fixture
def server_context():
    """A context of the check's own, as a server has: terminated after the check, once every
    thread that uses it has ended (sockets a learner's thread left open are closed for it)."""
    server = _RecordingContext()
    yield server
    terminating = server.terminate()
    terminating.join(STOP_TIMEOUT_S)
    if terminating.is_alive():  # the threads that opened them have ended by now, or never will
        for socket, _ in server.opened:
            if not socket.closed:
                socket.close(linger=0)
        terminating.join(STOP_TIMEOUT_S)


@pytest.fixture
def open_socket(context):
    """``open_socket(zmq.REQ)``: a socket with LINGER 0, closed after the check."""
    opened: list[zmq.Socket] = []

    def make(kind: int, identity: bytes | None = None, of: zmq.Context | None = None) -> zmq.Socket:
        socket = (of or context).socket(kind)
        socket.linger = 0
        if identity is not None:
            socket.setsockopt(zmq.IDENTITY, identity)
        opened.append(socket)
        return socket

    yield make
    for socket in opened:
        socket.close()


def _given_workers(context: zmq.Context, address: str, count: int) -> Callable[[], None]:
    """The checks' own REP workers, ``worker-<n>`` answering ``worker-<n> answered <request>``, all
    served by one thread until the function returned is called: it stops them and waits for their
    sockets to close."""
    stop = threading.Event()

    def serve() -> None:
        names: dict[zmq.Socket, bytes] = {}
        poller = zmq.Poller()
        try:
            for number in range(count):
                worker = context.socket(zmq.REP)
                worker.linger = 0
                names[worker] = f"worker-{number}".encode()
                worker.connect(address)
                poller.register(worker, zmq.POLLIN)
            while not stop.is_set():
                for worker, _ in poller.poll(GIVEN_POLL_MS):
                    worker.send(names[worker] + b" answered " + worker.recv())
        except zmq.ContextTerminated:
            pass
        finally:
            for worker in names:
                worker.close()

    thread = threading.Thread(target=serve, name="check-workers", daemon=True)
    thread.start()

    def stop_workers() -> None:
        stop.set()
        thread.join(STOP_TIMEOUT_S)

    return stop_workers


def _given_proxy(context: zmq.Context) -> tuple[str, str]:
    """The checks' own ROUTER–DEALER proxy (pyzmq's ``ThreadDevice``) on ``context``, in a thread
    until the context is terminated: ``(frontend address, backend address)``."""
    proxy = ThreadDevice(zmq.QUEUE, zmq.ROUTER, zmq.DEALER)
    proxy.context_factory = lambda: context  # inproc:// joins the sockets of one context only
    address, backend_address = f"tcp://127.0.0.1:{free_port()}", inproc_endpoint("check-backend")
    proxy.bind_in(address)
    proxy.bind_out(backend_address)
    proxy.setsockopt_in(zmq.LINGER, 0)
    proxy.setsockopt_out(zmq.LINGER, 0)
    proxy.start()
    return address, backend_address


# --- reply_to and split_envelope -------------------------------------------------------------

def _hint_for(reply: object, request: list[bytes]) -> str:
    """What is wrong with a reply built for ``request`` (identities, b"", body)."""
    if not isinstance(reply, list) or not all(isinstance(f, bytes) for f in reply):
        return f"return a list of bytes frames, not {reply!r}"
    envelope = request[:request.index(b"") + 1]
    if b"" not in reply:
        return "the empty delimiter is missing: a REQ socket drops a reply without it"
    if reply[:len(envelope) - 1] != envelope[:-1]:
        return ("the identity frames are not the request's, in its order: the ROUTER sends the reply "
                "to whoever the first frame names, and the frames after it are for the hops behind")
    if len(reply) != len(envelope) + 1:
        return "after the envelope comes the body alone: one frame, the last"
    return "the body should be the last frame"


def _request_and_reply(nb03, attempt, frames: list[bytes], body: bytes) -> None:
    reply = attempt(nb03.reply_to, frames, body)
    expected = [*frames[:frames.index(b"") + 1], body]
    assert reply == expected, f"reply_to({frames!r}, {body!r}) returned {reply!r}: {_hint_for(reply, frames)}"


def test_reply_to_keeps_the_identity_and_the_delimiter_and_puts_the_body_last(nb03, attempt):
    _request_and_reply(nb03, attempt, [b"client-a", b"", b"hello"], b"hi, client-a")
    _request_and_reply(nb03, attempt, [b"\x00k\x8bEg", b"", b"hello"], b"hi")


def test_reply_to_keeps_an_envelope_of_several_hops_whole(nb03, attempt):
    _request_and_reply(nb03, attempt, [b"\x00\x80\x00\x00\x01", b"client-a", b"", b"hello"], b"hi")
    _request_and_reply(nb03, attempt, [b"hop-3", b"hop-2", b"hop-1", b"", b"hello"], b"hi")


def _ask(client: zmq.Socket, router: zmq.Socket, nb03, attempt, body: bytes) -> list[bytes]:
    client.send(body)
    frames = receive(router, REPLY_TIMEOUT_S)
    router.send_multipart(attempt(nb03.reply_to, frames, b"answer to " + body))
    return frames


def _answer_or_hint(client: zmq.Socket, nb03, frames: list[bytes], nothing_came: str) -> list[bytes]:
    """The client's reply, or the check fails saying ``nothing_came`` and what is wrong with the
    reply ``reply_to`` builds for ``frames``."""
    try:
        return receive(client, REPLY_TIMEOUT_S)
    except NoMessage:
        pytest.fail(f"{nothing_came}: {_hint_for(nb03.reply_to(frames, b'x'), frames)}", pytrace=False)


def test_a_req_socket_gets_the_reply_built_by_reply_to(nb03, attempt, open_socket):
    router = open_socket(zmq.ROUTER)
    client = open_socket(zmq.REQ)
    client.connect(loopback_endpoint(router))
    frames = _ask(client, router, nb03, attempt, b"hello")
    answer = _answer_or_hint(client, nb03, frames, f"the REQ socket got no reply in {REPLY_TIMEOUT_S:g} s")
    assert answer == [b"answer to hello"], f"the REQ socket received {answer!r}: put the body last"


def test_two_clients_each_get_their_own_answer(nb03, attempt, open_socket):
    router = open_socket(zmq.ROUTER)
    endpoint = loopback_endpoint(router)
    named, anonymous = open_socket(zmq.REQ, identity=b"client-a"), open_socket(zmq.REQ)
    for client in (named, anonymous):
        client.connect(endpoint)
    named.send(b"from a")
    anonymous.send(b"from b")
    received = [receive(router, REPLY_TIMEOUT_S) for _ in range(2)]
    for frames in reversed(received):  # answered in the other order: routing, not luck
        router.send_multipart(attempt(nb03.reply_to, frames, b"answer to " + frames[-1]))
    for client, body in ((named, b"from a"), (anonymous, b"from b")):
        answer = _answer_or_hint(client, nb03, received[0], "a client got no reply")
        assert answer == [b"answer to " + body], (
            f"the client that sent {body!r} received {answer!r}: keep the request's own identity frame")


def test_a_reply_finds_its_way_back_through_a_proxy(nb03, attempt, server_context, open_socket):
    address, backend = _given_proxy(server_context)
    worker = open_socket(zmq.ROUTER, of=server_context)  # a ROUTER behind the proxy sees two identities
    worker.connect(backend)
    client = open_socket(zmq.REQ, identity=b"client-a")
    client.connect(address)
    frames = _ask(client, worker, nb03, attempt, b"hello")
    assert len(frames) == 4, f"expected two identities, the delimiter and the body, got {frames!r}"
    answer = _answer_or_hint(client, nb03, frames, "the reply never came back through the proxy")
    assert answer == [b"answer to hello"], f"the client received {answer!r}"


def test_split_envelope_separates_identities_from_the_body(nb03, attempt):
    cases = {
        (b"client-a", b"", b"hello"): ([b"client-a"], [b"hello"]),
        (b"hop-2", b"hop-1", b"", b"hello"): ([b"hop-2", b"hop-1"], [b"hello"]),
        (b"", b"hello"): ([], [b"hello"]),
        (b"client-a", b"", b"header", b"image"): ([b"client-a"], [b"header", b"image"]),
        (b"client-a", b"", b"header", b"", b"image"): ([b"client-a"], [b"header", b"", b"image"]),
    }
    for frames, expected in cases.items():
        result = attempt(nb03.split_envelope, list(frames))
        got = tuple(list(part) for part in result) if isinstance(result, tuple) else result
        last = len(frames) - 1 - frames[::-1].index(b"")
        if got == (list(frames[:last]), list(frames[last + 1:])) and got != expected:
            pytest.fail(f"split_envelope({list(frames)!r}) returned {result!r}: it split at the last "
                        "empty frame, but the envelope ends at the first one; a body frame may be "
                        "empty too", pytrace=False)
        assert got == expected, (
            f"split_envelope({list(frames)!r}) returned {result!r}, expected {expected!r}: the "
            "identities are the frames before the first empty one, the body every frame after it, "
            "and the empty frame belongs to neither")


def test_split_envelope_refuses_frames_without_a_delimiter(nb03, expect_raises):
    error = expect_raises(ValueError, "with no empty frame there is no envelope: raise ValueError",
                          nb03.split_envelope, [b"client-a", b"hello"])
    assert str(error), "say in the ValueError what is missing"


def test_split_envelope_reads_what_a_router_received(nb03, attempt, open_socket):
    router = open_socket(zmq.ROUTER)
    client = open_socket(zmq.REQ, identity=b"client-a")
    client.connect(loopback_endpoint(router))
    client.send(b"hello")
    identities, body = attempt(nb03.split_envelope, receive(router, REPLY_TIMEOUT_S))
    assert list(identities) == [b"client-a"] and list(body) == [b"hello"], (
        f"from a REQ named client-a, expected ([b'client-a'], [b'hello']), got ({identities!r}, {body!r})")


# --- worker_loop -----------------------------------------------------------------------------

def _answer(request: bytes) -> bytes:
    return b"answer to " + request


def _start_worker(nb03, attempt, server_context, open_socket) -> tuple[_Running, zmq.Socket, str, threading.Event]:
    """The learner's worker in a thread, behind a DEALER of the check's own (as in the notebook)."""
    backend = open_socket(zmq.DEALER, of=server_context)
    backend.sndtimeo = int(REPLY_TIMEOUT_S * 1000)
    address = inproc_endpoint("worker-check")
    backend.bind(address)
    stop = threading.Event()
    return _Running(attempt, nb03.worker_loop, server_context, address, _answer, stop), backend, address, stop


def _worker_socket_hint(server_context: _RecordingContext, address: str) -> str | None:
    """What is wrong with the sockets the learner's worker connected, if anything."""
    used = [kind for kind, how in server_context.kinds_at(address) if how == "connect"]
    if used and used != ["REP"]:
        return (f"worker_loop connected a {' and a '.join(used)} socket: use one REP socket, which "
                "takes the envelope off each request and puts it back on the reply")
    return None


def _worker_hint(running: _Running, server_context: _RecordingContext, address: str, answered: int) -> str:
    """Why the worker gave no reply to request number ``answered`` (counted from 0)."""
    running.raise_if_unwritten()
    if isinstance(running.error, zmq.ZMQError) and running.error.errno == zmq.EADDRINUSE:
        return ("worker_loop bound its socket to address, where the DEALER is bound already: a "
                "worker connects to it")
    if running.error is not None:
        return f"worker_loop raised {running.error!r}"
    used = [kind for kind, how in server_context.kinds_at(address) if how == "connect"]
    if not used:
        return ("worker_loop connected no socket to address: the DEALER is bound there, so the "
                "worker connects its REP socket to it")
    wrong_socket = _worker_socket_hint(server_context, address)
    if wrong_socket:
        return wrong_socket
    if answered and not running.thread.is_alive():
        return (f"worker_loop answered {answered} request(s), then returned: answer in a loop, "
                "request after request, until stop is set")
    return f"worker_loop gave no reply in {REPLY_TIMEOUT_S:g} s: send answer(request) back on the REP socket"


def _ask_the_worker(backend: zmq.Socket, running: _Running, server_context, address: str, number: int) -> None:
    request = f"request {number}".encode()
    try:  # a DEALER with no worker connected holds the request until one is: never for ever here
        backend.send_multipart([b"", request])
        reply = receive(backend, REPLY_TIMEOUT_S)
    except (zmq.Again, NoMessage):
        pytest.fail(_worker_hint(running, server_context, address, number), pytrace=False)
    wrong_socket = _worker_socket_hint(server_context, address)
    if reply != [b"", _answer(request)] and wrong_socket:
        pytest.fail(f"for {request!r} the DEALER received {reply!r}: {wrong_socket}", pytrace=False)
    if reply == [b"", b"", _answer(request)]:
        pytest.fail("the reply carries an extra empty frame: a REP socket puts the envelope back "
                    "by itself, so send answer(request) alone", pytrace=False)
    assert reply == [b"", _answer(request)], (
        f"for {request!r} the DEALER received {reply!r}: send back answer(request), one frame")


def test_worker_loop_answers_request_after_request(nb03, attempt, server_context, open_socket):
    running, backend, address, stop = _start_worker(nb03, attempt, server_context, open_socket)
    try:
        for number in range(4):
            _ask_the_worker(backend, running, server_context, address, number)
    finally:
        stop.set()


def test_worker_loop_stops_when_asked_and_closes_its_socket(nb03, attempt, server_context, open_socket):
    running, backend, address, stop = _start_worker(nb03, attempt, server_context, open_socket)
    try:
        _ask_the_worker(backend, running, server_context, address, 0)
        time.sleep(IDLE_S)  # no request coming: the worker is waiting for one when stop is set
    finally:
        stop.set()
    if not running.ended(STOP_TIMEOUT_S):
        pytest.fail(f"worker_loop was still running {STOP_TIMEOUT_S:g} s after stop was set, with no "
                    "request coming: a recv() with nothing to read waits for ever, so the loop never "
                    "looks at stop again; wait with worker.poll(WORKER_POLL_MS, zmq.POLLIN), whose "
                    "timeout is in milliseconds, and look at stop each time round", pytrace=False)
    assert running.error is None, f"worker_loop raised {running.error!r} when stop was set: just return"
    backend.close()
    left = server_context.left_open()
    assert not left, (f"worker_loop returned but left its {left[0]} socket open: close it however the "
                      "loop ends (try: ... finally: worker.close()); context.term() waits for every "
                      "socket of the context to be closed")


# --- run_proxy -------------------------------------------------------------------------------

def _start_proxy(nb03, attempt, server_context, workers: int) -> tuple[_Running, str, str, Callable[[], None]]:
    """The learner's proxy in a thread, with ``workers`` REP workers of the checks' own behind it,
    and what stops those workers and waits for them to close their sockets (libzmq aborts the
    process if a context ends while two sockets still wait to connect to an ``inproc://`` name
    that nobody bound, as happens when ``run_proxy`` binds no backend)."""
    frontend = f"tcp://127.0.0.1:{free_port()}"
    backend = inproc_endpoint("proxy-check")
    running = _Running(attempt, nb03.run_proxy, server_context, frontend, backend)
    return running, frontend, backend, _given_workers(server_context, backend, workers)


def _proxy_hint(running: _Running, server_context: _RecordingContext, frontend: str, backend: str) -> str:
    """Why the clients did not get their own replies through the learner's proxy."""
    running.raise_if_unwritten()
    if running.error is not None:
        return f"run_proxy raised {running.error!r}"
    for address, side, kind, peers, why in (
        (frontend, "frontend_address", "ROUTER", "clients",
         "which notes who sent each request so that the reply goes back to them"),
        (backend, "backend_address", "DEALER", "workers",
         "which hands requests to the workers in turn and passes the envelope through untouched"),
    ):
        used = server_context.kinds_at(address)
        if not used:
            return f"run_proxy opened no socket at {side}: bind a {kind} there, {why}"
        if "bind" not in [how for _, how in used]:
            return f"run_proxy connected to {side}: bind it, for the {peers} connect"
        if [k for k, _ in used] != [kind]:
            return f"the socket at {side} is a {used[0][0]}: put a {kind} there, {why}"
    return (f"a client got no reply, or another's, within {REPLY_TIMEOUT_S:g} s: once both sockets are "
            "bound, call zmq.proxy(frontend, backend)")


def _each_client_gets_its_own_reply(open_socket, frontend: str, clients: int, hint: Callable[[], str]) -> None:
    sockets = [open_socket(zmq.REQ) for _ in range(clients)]
    for socket in sockets:
        socket.connect(frontend)
    for number, socket in enumerate(sockets):
        socket.send(f"from client {number}".encode())
    for number, socket in reversed(list(enumerate(sockets))):
        try:
            reply = receive(socket, REPLY_TIMEOUT_S * 2)
        except NoMessage:
            pytest.fail(hint(), pytrace=False)
        if len(reply) != 1 or not reply[0].endswith(f"answered from client {number}".encode()):
            pytest.fail(f"client {number} received {reply!r}, not the answer to its own request: "
                        + hint(), pytrace=False)


def test_run_proxy_carries_requests_from_clients_to_workers_and_back(nb03, attempt, server_context, open_socket):
    running, frontend, backend, stop_workers = _start_proxy(nb03, attempt, server_context, workers=2)
    try:
        for _ in range(2):
            _each_client_gets_its_own_reply(open_socket, frontend, 3,
                                            lambda: _proxy_hint(running, server_context, frontend, backend))
    finally:
        stop_workers()


def test_run_proxy_stops_when_its_context_is_terminated_and_closes_its_sockets(
        nb03, attempt, server_context, open_socket):
    running, frontend, backend, stop_workers = _start_proxy(nb03, attempt, server_context, workers=1)
    try:
        _each_client_gets_its_own_reply(open_socket, frontend, 1,
                                        lambda: _proxy_hint(running, server_context, frontend, backend))
    finally:
        stop_workers()
    server_context.terminate()
    if not running.ended(STOP_TIMEOUT_S):
        pytest.fail(f"run_proxy was still running {STOP_TIMEOUT_S:g} s after context.term(): zmq.proxy "
                    "ends then by raising zmq.ContextTerminated; let run_proxy return after it",
                    pytrace=False)
    if isinstance(running.error, zmq.ContextTerminated):
        pytest.fail("run_proxy let zmq.ContextTerminated out when the context was terminated: that is "
                    "how zmq.proxy says the server is stopping, not an error; catch it and return",
                    pytrace=False)
    assert running.error is None, f"run_proxy raised {running.error!r} when the context was terminated"
    left = [kind for kind in server_context.left_open() if kind in ("ROUTER", "DEALER")]
    assert not left, (f"run_proxy returned but left its {' and '.join(left)} socket open: close both "
                      "sockets however it ends (finally:); context.term() waits for every socket of "
                      "the context to be closed")
