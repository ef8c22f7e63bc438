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
``probes`` say whether the server is live and ready, and ``registry`` holds its metrics: the
command line serves them over HTTP with ``--http-address`` (``http_endpoints``).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import zmq
from prometheus_client import CollectorRegistry

from ..models.classifier import Classifier
from ..protocol import LOCAL_THREADS_SUFFIX, MAX_REQUEST_BYTES
from .broker import Broker
from .lifecycle import ServerStartError
from .probes import ServerProbes
from .request_handler import WORKER_NAME
from .security import (
    CLIENTS_DOMAIN,
    WORKERS_DOMAIN,
    ServerKeys,
    secure_server_socket,
    start_security,
)
from .settings import ServerSettings
from .worker_pool import WorkerPool

if TYPE_CHECKING:
    from zmq.auth.thread import ThreadAuthenticator

log = logging.getLogger(__name__)

#: Where the broker hands requests to the local worker threads.
BACKEND_ENDPOINT = "inproc://model-server-workers"
#: How long the frontend may keep sending the last replies after the server stops.
FRONTEND_LINGER_MS = 1000


class ModelServer:
    """Binds the sockets, runs the local workers and the broker until ``stop`` is set.

    ``classifier`` is ``None`` for a pure broker (``workers == 0``): remote workers answer.
    """

    def __init__(
        self, classifier: Classifier | None, settings: ServerSettings,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
    ):
        self.settings = settings
        self._context = context or zmq.Context.instance()
        self.registry = CollectorRegistry()
        self._pool: WorkerPool | None = None
        if settings.workers > 0:
            assert classifier is not None, "local workers need a classifier"
            self._pool = WorkerPool(classifier, settings, BACKEND_ENDPOINT, self._context, self.registry)
        self.probes = ServerProbes(settings, self._pool, self.registry)
        self._broker: Broker | None = None
        self._frontend: zmq.Socket[bytes] | None = None
        self._backend: zmq.Socket[bytes] | None = None
        self._remote_backend: zmq.Socket[bytes] | None = None
        self._authenticator: ThreadAuthenticator | None = None

    def _bind(self, socket: zmq.Socket[bytes], address: str, what: str) -> None:
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
        pool = self._pool
        self._broker = Broker(
            self.settings, frontend, backend, remote_backend,
            local_name=WORKER_NAME + LOCAL_THREADS_SUFFIX if pool else None,
            local_batch_sizes=(lambda: pool.batch_sizes) if pool else dict,
        )
        self.probes.broker = self._broker
        if pool is not None:
            pool.start()

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
        if self._broker is None:
            self.bind()
        assert self._broker is not None
        try:
            self._broker.run(stop)
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
