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
from socket import gethostname

import zmq

from .batching import Batcher
from .broker import Broker
from .decoder_threads import DecoderThreads
from .images import decode_image
from .pipeline import Classifier, milliseconds
from .protocol import (
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

log = logging.getLogger("model_server.server")

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

    Each calling thread decodes its images on a decoder thread of its own, so that a decode that
    hangs is given up after ``hang_timeout_s`` (see ``decoder_threads``).
    """

    def __init__(self, classifier: Classifier, settings: ServerSettings, batcher: Batcher):
        self._classifier = classifier
        self._settings = settings
        self._batcher = batcher
        self.decoders = DecoderThreads(settings.hang_timeout_s)

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
            pixels = self.decoders.run(decode_image, request.image, max_pixels=self._settings.max_pixels)
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


class WorkerPool:
    """Worker threads that take requests from an ``inproc://`` endpoint, sharing one ``Batcher``.

    Each request arrives as ``[ticket, budget, *request frames]`` and is answered as
    ``[ticket, reply]``. The model server runs one on its backend; a remote worker process runs
    one behind its link to the broker (``remote_worker``, which holds the CURVE keys when the
    server uses them). A supervisor thread gives up a forward pass that hangs (its requests get
    ``worker_lost``, a new batcher thread takes over) and replaces a worker thread that died.
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
        self._threads: list[threading.Thread] = []
        self._supervisor = threading.Thread(target=self._supervise, name="worker-supervisor", daemon=True)

    @property
    def batch_sizes(self) -> dict[int, int]:
        return self._batcher.batch_sizes

    def start(self) -> None:
        self._batcher.start()
        for index in range(self._settings.workers):
            self._threads.append(self._start_thread(index))
        self._supervisor.start()

    def _start_thread(self, index: int) -> threading.Thread:
        thread = threading.Thread(target=self._work, name=f"worker-{index}", daemon=True)
        thread.start()
        return thread

    def _work(self) -> None:
        worker = self._context.socket(zmq.DEALER)
        worker.linger = WORKER_LINGER_MS
        worker.connect(self._endpoint)
        try:
            while not self._stop.is_set():
                if not worker.poll(POLL_INTERVAL_MS):
                    continue
                frames = worker.recv_multipart()
                try:
                    ticket, budget, *body = frames
                    deadline = time.monotonic() + decode_budget(budget) / 1000.0
                except ValueError:  # not from our broker: nobody to answer
                    log.warning("dropped a malformed work message of %d frame(s)", len(frames))
                    continue
                try:
                    reply = self._handler(body, deadline)
                except BaseException:  # the thread dies (the supervisor starts another): say so
                    worker.send_multipart([ticket, encode_error(
                        ErrorCode.INTERNAL, "the worker thread answering this request died; "
                        "try again", request_id_of(body[0] if body else b""))])
                    raise
                worker.send_multipart([ticket, reply])
        finally:
            worker.close()

    def _supervise(self) -> None:
        while not self._stop.wait(SUPERVISE_INTERVAL_S):
            self._batcher.replace_if_hung(self._settings.hang_timeout_s)
            for index, thread in enumerate(self._threads):
                if not thread.is_alive() and not self._stop.is_set():
                    log.error("worker thread %s died; starting a new one", thread.name)
                    self._threads[index] = self._start_thread(index)

    def stop(self) -> None:
        """Finish the requests being answered, then close the workers' sockets."""
        self._stop.set()
        self._supervisor.join(timeout=1)
        for thread in self._threads:
            thread.join(timeout=self._settings.drain_seconds + POLL_INTERVAL_MS / 1000)
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
