"""The model server: a ROUTER frontend for clients, a DEALER backend to worker request handlers.

    clients (REQ, DEALER) ──tcp──▶ ROUTER frontend ═ broker ═ DEALER backend ──inproc──▶ workers
                                                          ╚═ ROUTER backend ──tcp──▶ remote workers

The ROUTER prefixes every request with the identity of the client that sent it; the broker keeps
that envelope under a ticket and hands the request, tagged with the ticket and the time left
before its deadline, to a worker with room for it (see ``broker``); the worker's reply comes back
under the same ticket, so it reaches the client that asked, however many clients there are.
The model is loaded once, before any socket is bound, and shared by the worker threads
(TensorFlow releases the GIL while it computes); their decoded images meet in a ``Batcher``.
With ``backend_address`` set, worker processes started elsewhere
(``python -m model_server worker --connect …``) join and leave at any time, with heartbeats.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from socket import gethostname

import zmq

from .batching import Batcher
from .broker import Broker
from .decode_watch import DecodeAbandoned, DecodeWatch
from ..images import decode_image
from ..models.pipeline import Classifier, milliseconds
from ..protocol import (
    MAX_REQUEST_BYTES,
    ErrorCode,
    PingRequest,
    PredictRequest,
    PredictReply,
    RequestError,
    ServerInfo,
    StatsRequest,
    Timings,
    decode_budget,
    decode_request,
    encode_error,
    encode_reply,
    encode_server_info,
    request_id_of,
)
from .security import (
    CLIENTS_DOMAIN,
    WORKERS_DOMAIN,
    ServerKeys,
    secure_server_socket,
    start_security,
)
from .settings import ServerSettings

log = logging.getLogger("model_server.serving.server")

BACKEND_ENDPOINT = "inproc://model-server-workers"
#: How often blocking loops wake up to check whether the server is stopping.
POLL_INTERVAL_MS = 100
#: How long the frontend may keep sending the last replies after the server stops.
FRONTEND_LINGER_MS = 1000
#: How long a stopping worker may keep sending its last replies.
WORKER_LINGER_MS = 1000
#: How often the worker pool's supervisor looks for a hung forward pass or a dead worker thread.
SUPERVISE_INTERVAL_S = 0.25


#: How replies name the process that answered them.
WORKER_NAME = f"{gethostname()}:{os.getpid()}"


class ServerStartError(RuntimeError):
    """The server could not start listening; the message says where and why."""


class RequestHandler:
    """Turns one request frame into one reply frame. Never raises: every failure is a reply.

    Its ``decodes`` tell the worker pool's supervisor which threads are decoding since when, so
    that a decode that hangs can be given up (see ``decode_watch``).
    """

    def __init__(self, classifier: Classifier, settings: ServerSettings, batcher: Batcher):
        self._classifier = classifier
        self._settings = settings
        self._batcher = batcher
        self.decodes = DecodeWatch()

    def __call__(self, body: list[bytes], deadline: float | None = None) -> bytes:
        """Answer a request of one JSON frame, or a JSON header and a raw image frame.

        Past ``deadline`` (``time.monotonic()``) the request is not computed: its client has
        given up, and the broker has answered it already.
        """
        started = time.perf_counter()
        frame = body[0] if body else b""
        try:
            if deadline is not None and time.monotonic() > deadline:
                raise RequestError("the request's deadline passed before a worker got to it; "
                                   "it was not computed", ErrorCode.DEADLINE_EXCEEDED)
            if len(body) not in (1, 2):
                raise RequestError(
                    f"a request is one JSON frame, or a JSON header and an image frame; got {len(body)} frames"
                )
            request = decode_request(frame, body[1] if len(body) == 2 else None)
            if isinstance(request, PingRequest):
                return encode_server_info(self.server_info(request.id))
            if isinstance(request, StatsRequest):
                raise RequestError('"stats" is answered by the model server\'s broker, not by a worker')
            reply = self._predict(request, started, deadline)
        except RequestError as error:
            log.info("refused a request: %s: %s", error.code.value, error.message)
            return encode_error(error.code, error.message, request_id_of(frame))
        except Exception:
            log.exception("failed to answer a request")
            return encode_error(
                ErrorCode.INTERNAL, "the model server failed on this request; see its log",
                request_id_of(frame),
            )
        return encode_reply(reply)

    def _predict(self, request: PredictRequest, started: float, deadline: float | None) -> PredictReply:
        self._batcher.decoding_started()
        try:
            with self.decodes.decoding():
                pixels = decode_image(request.image, max_pixels=self._settings.max_pixels)
        except DecodeAbandoned:
            raise  # answered by the supervisor, which told the batcher too
        except BaseException:
            self._batcher.decoding_failed()
            raise
        decoded = time.perf_counter()
        # The pool's supervisor fails a hung batch after hang_timeout_s; waiting twice as long
        # is only a backstop, so that a worker can never wait forever.
        wait_s = 2 * self._settings.hang_timeout_s + SUPERVISE_INTERVAL_S
        try:
            result = self._batcher.submit(pixels, deadline).result(timeout=wait_s)
        except TimeoutError:
            raise RequestError(f"the model did not answer within {wait_s:g} s",
                               ErrorCode.WORKER_LOST) from None
        predictions = self._classifier.top_predictions(result.probabilities, request.top)
        timings = Timings(
            decode=milliseconds(decoded - started),
            preprocess=round(result.preprocess_ms, 3),
            inference=round(result.inference_ms, 3),
            total=milliseconds(time.perf_counter() - started),
            queue=round(result.queued_ms, 3),
        )
        return PredictReply(
            predictions, self._classifier.weights, self._classifier.model_name, timings,
            request.id, batch=result.batch_size, worker=WORKER_NAME,
            runtime=self._classifier.runtime, precision=self._classifier.precision,
        )

    def server_info(self, request_id: str | None = None) -> ServerInfo:
        return ServerInfo(
            model=self._classifier.model_name,
            weights=self._classifier.weights,
            workers=self._settings.workers,
            id=request_id,
            worker=WORKER_NAME,
            runtime=self._classifier.runtime,
            precision=self._classifier.precision,
        )


@dataclass
class _WorkerSlot:
    """One worker's socket and the thread serving it now.

    A thread holds ``lock`` whenever it uses the socket, never while it answers a request, so
    the supervisor can answer for a thread stuck in a decode and hand the socket to a new one
    (ZeroMQ lets a socket move between threads behind a full memory barrier, which the lock is).
    """

    index: int
    socket: zmq.Socket | None = None
    thread: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: The request being answered: its ticket, and its first frame (for the id of an error reply).
    ticket: bytes | None = None
    header: bytes = b""


class WorkerPool:
    """Worker threads that take requests from an ``inproc://`` endpoint, sharing one ``Batcher``.

    Each request arrives as ``[ticket, budget, *request frames]`` and is answered as
    ``[ticket, reply]``. The model server runs one on its backend; a remote worker process runs
    one behind its link to the broker (``remote_worker``, which holds the CURVE keys when the
    server uses them). A supervisor thread gives up a forward pass that hangs (its requests get
    ``worker_lost``, a new batcher thread takes over), gives up a decode that hangs (its request
    gets ``decode_timeout``, a new thread takes over the stuck thread's socket, and with it the
    requests queued there) and replaces a worker thread that died.
    """

    def __init__(
        self, classifier: Classifier, settings: ServerSettings, endpoint: str, context: zmq.Context,
    ):
        self._settings = settings
        self._endpoint = endpoint
        self._context = context
        self._batcher = Batcher(classifier, settings.max_batch, settings.max_delay_ms)
        self._handler = RequestHandler(classifier, settings, self._batcher)
        self._stop = threading.Event()
        self._slots = [_WorkerSlot(index) for index in range(settings.workers)]
        self._supervisor = threading.Thread(target=self._supervise, name="worker-supervisor", daemon=True)
        #: Decodes given up as hung so far (their threads may still be stuck).
        self.abandoned_decodes = 0

    @property
    def batch_sizes(self) -> dict[int, int]:
        return self._batcher.batch_sizes

    def start(self) -> None:
        self._batcher.start()
        for slot in self._slots:
            slot.socket = self._context.socket(zmq.DEALER)
            slot.socket.linger = WORKER_LINGER_MS
            slot.socket.connect(self._endpoint)
            self._start_thread(slot)
        self._supervisor.start()

    def _start_thread(self, slot: _WorkerSlot) -> None:
        slot.thread = threading.Thread(target=self._work, args=(slot,), name=f"worker-{slot.index}",
                                       daemon=True)
        slot.thread.start()

    def _work(self, slot: _WorkerSlot) -> None:
        while not self._stop.is_set():
            with slot.lock:
                if slot.socket is None:
                    return
                if not slot.socket.poll(POLL_INTERVAL_MS):
                    continue
                frames = slot.socket.recv_multipart()
                try:
                    ticket, budget, *body = frames
                    deadline = time.monotonic() + decode_budget(budget) / 1000.0
                except ValueError:  # not from our broker: nobody to answer
                    log.warning("dropped a malformed work message of %d frame(s)", len(frames))
                    continue
                slot.ticket, slot.header = ticket, body[0] if body else b""
            try:
                reply = self._handler(body, deadline)
            except DecodeAbandoned:
                return  # the supervisor answered this request; a new thread serves the socket
            except BaseException:  # the thread dies (the supervisor starts another): say so
                self._answer(slot, encode_error(
                    ErrorCode.INTERNAL, "the worker thread answering this request died; try again",
                    request_id_of(slot.header)))
                raise
            self._answer(slot, reply)
        self._close(slot)

    def _answer(self, slot: _WorkerSlot, reply: bytes) -> None:
        with slot.lock:
            if slot.socket is not None and slot.ticket is not None:
                slot.socket.send_multipart([slot.ticket, reply])
            slot.ticket = None

    def _close(self, slot: _WorkerSlot) -> None:
        with slot.lock:
            if slot.socket is not None:
                slot.socket.close()
                slot.socket = None

    def _supervise(self) -> None:
        hang_timeout_s = self._settings.hang_timeout_s
        while not self._stop.wait(SUPERVISE_INTERVAL_S):
            self._batcher.replace_if_hung(hang_timeout_s)
            for stuck in self._handler.decodes.abandon_overdue(hang_timeout_s):
                self._take_over_from(stuck)
            for slot in self._slots:
                if slot.thread is not None and not slot.thread.is_alive() and not self._stop.is_set():
                    log.error("worker thread %s died; starting a new one", slot.thread.name)
                    self._start_thread(slot)

    def _take_over_from(self, stuck: threading.Thread) -> None:
        """Answer the request of a thread stuck in a decode, and serve its socket with a new thread."""
        slot = next(slot for slot in self._slots if slot.thread is stuck)
        hang_timeout_s = self._settings.hang_timeout_s
        self._batcher.decoding_failed()
        self._answer(slot, encode_error(
            ErrorCode.DECODE_TIMEOUT,
            f"decoding this image took longer than {hang_timeout_s:g} s and was given up; the "
            "image itself is the likely cause, so sending it again will not help",
            request_id_of(slot.header)))
        self._start_thread(slot)
        self.abandoned_decodes += 1
        log.error("worker thread %s has been decoding an image for more than %g s: its request "
                  "is answered %s, the thread is abandoned and a new one serves its socket "
                  "(%d decode(s) abandoned so far)", stuck.name, hang_timeout_s,
                  ErrorCode.DECODE_TIMEOUT.value, self.abandoned_decodes)

    def stop(self) -> None:
        """Finish the requests being answered, then close the workers' sockets."""
        self._stop.set()
        self._supervisor.join(timeout=1)
        for slot in self._slots:
            if slot.thread is not None:
                slot.thread.join(timeout=self._settings.drain_seconds + POLL_INTERVAL_MS / 1000)
        for slot in self._slots:  # a thread still stuck in a decode never closes its socket
            self._close(slot)
        self._batcher.stop()


class ModelServer:
    """Binds the sockets, runs the local workers and the broker until ``stop`` is set.

    ``classifier`` is ``None`` for a pure broker (``workers == 0``): remote workers answer.
    """

    def __init__(
        self, classifier: Classifier, settings: ServerSettings, context: zmq.Context | None = None
    ):
        self.settings = settings
        self._context = context or zmq.Context.instance()
        self._pool = (
            WorkerPool(classifier, settings, BACKEND_ENDPOINT, self._context)
            if settings.workers > 0 else None
        )
        self._frontend: zmq.Socket | None = None
        self._backend: zmq.Socket | None = None
        self._remote_backend: zmq.Socket | None = None
        self._authenticator = None

    def _bind(self, socket: zmq.Socket, address: str, what: str) -> None:
        try:
            socket.bind(address)
        except zmq.ZMQError as error:
            socket.close(linger=0)
            raise ServerStartError(
                f"cannot listen on {address} for {what}: {error.strerror}"
                " (is another model server running there?)"
            ) from None

    def bind(self) -> None:
        """Open the frontend and the backend; raises ``ServerStartError`` if an address is taken,
        or is exposed without CURVE keys (see ``security``)."""
        keys = self._start_security()
        frontend = self._context.socket(zmq.ROUTER)
        secure_server_socket(frontend, keys, CLIENTS_DOMAIN)
        frontend.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST_BYTES)
        frontend.linger = FRONTEND_LINGER_MS
        try:
            self._bind(frontend, self.settings.address, "clients")
        except ServerStartError:
            self._stop_security()
            raise
        backend = self._context.socket(zmq.DEALER)
        backend.linger = 0
        backend.bind(BACKEND_ENDPOINT)
        remote_backend = None
        if self.settings.backend_address:
            remote_backend = self._context.socket(zmq.ROUTER)
            remote_backend.linger = 0
            # A send to a worker that is gone fails at once instead of vanishing.
            remote_backend.setsockopt(zmq.ROUTER_MANDATORY, 1)
            secure_server_socket(remote_backend, keys, WORKERS_DOMAIN)
            try:
                self._bind(remote_backend, self.settings.backend_address, "remote workers")
            except ServerStartError:
                frontend.close(linger=0)
                backend.close(linger=0)
                self._stop_security()
                raise
        self._frontend, self._backend, self._remote_backend = frontend, backend, remote_backend
        if self._pool is not None:
            self._pool.start()

    def _start_security(self) -> ServerKeys | None:
        try:
            keys, self._authenticator = start_security(self.settings, self._context)
        except (ValueError, zmq.ZMQError) as error:
            raise ServerStartError(str(error)) from None
        return keys

    def _stop_security(self) -> None:
        if self._authenticator is not None:
            self._authenticator.stop()
            self._authenticator = None

    def serve(self, stop: threading.Event) -> None:
        """Relay requests and replies until ``stop`` is set, then let in-flight requests finish."""
        if self._frontend is None:
            self.bind()
        assert self._frontend is not None and self._backend is not None
        pool = self._pool
        broker = Broker(
            self.settings, self._frontend, self._backend, self._remote_backend,
            local_name=f"{WORKER_NAME} (threads)" if pool else None,
            local_batch_sizes=(lambda: pool.batch_sizes) if pool else dict,
        )
        try:
            broker.run(stop)
        finally:
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.stop()
        for sock in (self._backend, self._remote_backend, self._frontend):
            if sock is not None:
                sock.close()
        self._frontend = self._backend = self._remote_backend = None
        self._stop_security()
        log.info("model server stopped")
