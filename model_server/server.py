"""The model server: a ROUTER frontend for clients, a DEALER backend to worker request handlers.

    clients (REQ, DEALER) ──tcp──▶ ROUTER frontend ═ broker ═ DEALER backend ──inproc──▶ workers
                                                                            └──tcp──▶ remote workers

The ROUTER prefixes every request with the identity of the client that sent it; the DEALER hands
requests to the workers in turn; each worker sends its reply back with the same identity
envelope, so the ROUTER delivers it to the client that asked, however many clients there are.
The model is loaded once, before any socket is bound, and shared by the worker threads
(TensorFlow releases the GIL while it computes); their decoded images meet in a ``Batcher``.
With ``backend_address`` set, the backend also listens on TCP, and worker processes started
elsewhere (``python -m model_server worker --connect …``) join and leave at any time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from socket import gethostname

import zmq

from .batching import Batcher
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
    Timings,
    decode_request,
    encode_error,
    encode_reply,
    encode_server_info,
    request_id_of,
)
from .security import (
    CLIENTS_DOMAIN,
    WORKERS_DOMAIN,
    ClientKeys,
    ServerKeys,
    secure_client_socket,
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
#: Seconds a worker waits for the batcher's answer before replying with an internal error.
BATCH_TIMEOUT_S = 120.0
#: How long a stopping worker may keep sending its last replies.
WORKER_LINGER_MS = 1000


#: How replies name the process that answered them.
WORKER_NAME = f"{gethostname()}:{os.getpid()}"


class ServerStartError(RuntimeError):
    """The server could not start listening; the message says where and why."""


class RequestHandler:
    """Turns one request frame into one reply frame. Never raises: every failure is a reply."""

    def __init__(self, classifier: Classifier, settings: ServerSettings, batcher: Batcher):
        self._classifier = classifier
        self._settings = settings
        self._batcher = batcher

    def __call__(self, body: list[bytes]) -> bytes:
        """Answer a request of one JSON frame, or a JSON header and a raw image frame."""
        started = time.perf_counter()
        frame = body[0] if body else b""
        try:
            if len(body) not in (1, 2):
                raise RequestError(
                    f"a request is one JSON frame, or a JSON header and an image frame; got {len(body)} frames"
                )
            request = decode_request(frame, body[1] if len(body) == 2 else None)
            if isinstance(request, PingRequest):
                return encode_server_info(self.server_info(request.id))
            reply = self._predict(request, started)
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

    def _predict(self, request: PredictRequest, started: float) -> PredictReply:
        self._batcher.decoding_started()
        try:
            pixels = decode_image(request.image, max_pixels=self._settings.max_pixels)
        except BaseException:
            self._batcher.decoding_failed()
            raise
        decoded = time.perf_counter()
        result = self._batcher.submit(pixels).result(timeout=BATCH_TIMEOUT_S)
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


def split_envelope(frames: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """Split what a worker receives into the routing envelope and the request's own frames.

    The envelope is the client's identity (added by the ROUTER), plus the empty delimiter frame
    that REQ sockets send; a DEALER client may leave the delimiter out. Identities are never
    empty, so an empty second frame can only be a delimiter.
    """
    cut = 2 if len(frames) > 2 and frames[1] == b"" else 1
    return frames[:cut], frames[cut:]


class WorkerPool:
    """Worker threads that take requests from a backend endpoint, sharing one ``Batcher``.

    The model server runs one on its ``inproc://`` backend; a remote worker process runs one
    connected to the server's TCP backend (with ``keys`` when the server uses CURVE).
    """

    def __init__(
        self, classifier: Classifier, settings: ServerSettings, endpoint: str, context: zmq.Context,
        keys: ClientKeys | None = None,
    ):
        self._settings = settings
        self._keys = keys
        self._endpoint = endpoint
        self._context = context
        self._batcher = Batcher(classifier, settings.max_batch, settings.max_delay_ms)
        self._handler = RequestHandler(classifier, settings, self._batcher)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def batch_sizes(self) -> dict[int, int]:
        return dict(self._batcher.batch_sizes)

    def start(self) -> None:
        self._batcher.start()
        for index in range(self._settings.workers):
            thread = threading.Thread(target=self._work, name=f"worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        worker = self._context.socket(zmq.DEALER)
        worker.linger = WORKER_LINGER_MS
        secure_client_socket(worker, self._keys)
        worker.connect(self._endpoint)
        try:
            while not self._stop.is_set():
                if not worker.poll(POLL_INTERVAL_MS):
                    continue
                envelope, body = split_envelope(worker.recv_multipart())
                worker.send_multipart([*envelope, self._handler(body)])
        finally:
            worker.close()

    def stop(self) -> None:
        """Finish the requests being answered, then close the workers' sockets."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self._settings.drain_seconds + POLL_INTERVAL_MS / 1000)
        self._batcher.stop()


class ModelServer:
    """Binds the sockets, runs the local workers and the broker until ``stop`` is set."""

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
        secure_server_socket(backend, keys, WORKERS_DOMAIN)
        backend.bind(BACKEND_ENDPOINT)
        if self.settings.backend_address:
            try:
                self._bind(backend, self.settings.backend_address, "remote workers")
            except ServerStartError:
                frontend.close(linger=0)
                self._stop_security()
                raise
        self._frontend, self._backend = frontend, backend
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
        frontend, backend = self._frontend, self._backend
        assert frontend is not None and backend is not None
        poller = zmq.Poller()
        poller.register(frontend, zmq.POLLIN)
        poller.register(backend, zmq.POLLIN)
        in_flight = 0
        drain_deadline: float | None = None
        try:
            while True:
                if stop.is_set() and drain_deadline is None:
                    poller.unregister(frontend)
                    drain_deadline = time.monotonic() + self.settings.drain_seconds
                    log.info("stopping: finishing %d request(s) in flight", in_flight)
                if drain_deadline is not None and (in_flight <= 0 or time.monotonic() > drain_deadline):
                    break
                events = dict(poller.poll(POLL_INTERVAL_MS))
                if events.get(frontend):
                    request = frontend.recv_multipart()
                    if in_flight >= self.settings.max_queue:
                        frontend.send_multipart(self._busy_reply(request))
                    else:
                        backend.send_multipart(request, copy=False)
                        in_flight += 1
                if events.get(backend):
                    frontend.send_multipart(backend.recv_multipart(copy=False), copy=False)
                    in_flight -= 1
        finally:
            self.close()

    def _busy_reply(self, request: list[bytes]) -> list[bytes]:
        """Refuse a request at once when ``max_queue`` are already waiting: better than a timeout."""
        envelope, body = split_envelope(request)
        message = (f"the model server is busy ({self.settings.max_queue} requests waiting); "
                   "try again in a moment")
        return [*envelope, encode_error(ErrorCode.BUSY, message, request_id_of(body[0] if body else b""))]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.stop()
        for sock in (self._backend, self._frontend):
            if sock is not None:
                sock.close()
        self._frontend = self._backend = None
        self._stop_security()
        log.info("model server stopped")
