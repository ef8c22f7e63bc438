"""A remote worker process's line to the broker: READY, heartbeats both ways, reconnecting.

    broker ROUTER ──tcp── DEALER link ═ relay ═ DEALER ──inproc──▶ WorkerPool threads

The zguide's Paranoid Pirate worker: the link says READY with its capacity (the worker threads),
relays work to the pool and replies back, and sends a heartbeat every interval. If the broker
is silent for ``heartbeat_liveness`` intervals, it is presumed dead: the link closes its socket,
waits (doubling the wait up to ``RECONNECT_MAX_S``) and connects a fresh one, so a restarted
broker gets its workers back. On stop it says DISCONNECT, finishes what it holds, then leaves.
Every interval, also while reconnecting, it calls ``still_alive`` (a supervising parent process
takes silence for a hung worker, see ``worker_supervisor``). What the probes and metrics read
(``probes``, ``metrics``) the link publishes as single values, written by its thread alone: when
it last heard from the broker, what it relayed, whether its loop comes round (``loop``).

A broker that refuses the worker's CURVE key (or requires keys it has none of) logs the refusal;
the link logs it too, once, as an ERROR, and goes on trying: the fix is on the broker's side
(authorize the key: the broker reads its keys again), after which the worker joins by itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import zmq

from ..curve import ClientKeys, HandshakeWatch, secure_client_socket
from . import framing
from .health import LoopWatch
from .settings import LOOP_STALL_S, ServerSettings

log = logging.getLogger(__name__)

#: Where the link hands requests to the worker threads inside the worker process.
POOL_ENDPOINT = "inproc://remote-worker-pool"
#: The longest wait between two attempts to reach a broker that does not answer.
RECONNECT_MAX_S = 32.0
#: How long the sockets may keep sending their last messages when the worker stops.
LINGER_MS = 1000
#: How a worker is given its keys, for the message when a broker requires keys it has none of.
WORKER_KEYS_HINT = ("give this worker --secret-key and --server-public-key (made by"
                    " 'python -m model_server keygen')")


class BrokerLink:
    """Relays between the broker's TCP backend and the worker threads at ``POOL_ENDPOINT``."""

    def __init__(
        self, broker_address: str, settings: ServerSettings, context: zmq.Context[zmq.Socket[bytes]],
        hello: Callable[[], framing.WorkerHello], keys: ClientKeys | None = None,
        still_alive: Callable[[], None] = lambda: None,
    ):
        self.broker_address = broker_address
        self._interval_s = settings.heartbeat_interval_s
        self.broker_timeout_s = settings.heartbeat_interval_s * settings.heartbeat_liveness
        self._drain_s = settings.drain_seconds
        self._context = context
        self._hello = hello
        self._keys = keys
        self._still_alive = still_alive
        self._pool = context.socket(zmq.DEALER)
        self._pool.linger = LINGER_MS
        self._pool.bind(POOL_ENDPOINT)
        self._broker: zmq.Socket[bytes] | None = None
        self._handshake: HandshakeWatch | None = None
        #: The handshake failure last logged, so that a refusal is logged once, not per retry.
        self._refusal: str | None = None
        #: Requests handed to the worker threads and not answered yet.
        self._held = 0
        self.loop = LoopWatch("the link to the broker", LOOP_STALL_S + self._interval_s)
        #: When the broker was last heard from (``time.monotonic()``), ``None`` before it was.
        self._last_heard: float | None = None
        self.requests_received = 0
        self.replies_sent = 0
        self.reconnects = 0
        #: Told to stop: it takes no new work (it said DISCONNECT, or is about to).
        self.stopping = False

    def broker_connected(self) -> bool:
        """The broker was heard from within the heartbeat liveness window."""
        last = self._last_heard
        return last is not None and time.monotonic() - last <= self.broker_timeout_s

    def _connect(self) -> None:
        self._broker = self._context.socket(zmq.DEALER)
        self._broker.linger = LINGER_MS
        secure_client_socket(self._broker, self._keys)
        self._handshake = HandshakeWatch(self._broker, self.broker_address, self._keys, WORKER_KEYS_HINT)
        self._broker.connect(self.broker_address)
        self._introduce(framing.WORKER_READY)

    def _disconnect(self, linger_ms: int | None = None) -> None:
        if self._broker is not None:
            self._broker.close(linger=linger_ms)
            self._broker = None
        if self._handshake is not None:
            self._handshake.close()
            self._handshake = None

    def _report_refusal(self) -> None:
        """Log, once, that the broker turned us away: otherwise only the broker would say so."""
        assert self._handshake is not None
        failure = self._handshake.check()
        if failure is not None and failure != self._refusal:
            log.error("%s; retrying meanwhile", failure)
            self._refusal = failure

    def _introduce(self, command: bytes) -> None:
        """``READY`` or ``HEARTBEAT``, with this worker's hello (its threads, its batch sizes)."""
        self._send([command, framing.encode_worker_hello(self._hello())])

    def _send(self, frames: list[bytes]) -> None:
        """To the broker, never blocking: what cannot be sent now the broker gets again otherwise
        (a heartbeat next interval; a reply's request, sent to another worker)."""
        assert self._broker is not None
        try:
            self._broker.send_multipart(frames, flags=zmq.NOBLOCK)
        except zmq.Again:
            pass

    def run(self, stop: threading.Event) -> None:
        """Serve the broker until ``stop`` is set, then leave politely and close the sockets."""
        self._still_alive()
        self._connect()
        backoff_s = self._interval_s
        now = time.monotonic()
        broker_expires, next_heartbeat = now + self.broker_timeout_s, now + self._interval_s
        try:
            while not stop.is_set():
                assert self._broker is not None
                self.loop.came_round()
                heard = self._relay(self._broker)
                now = time.monotonic()
                if heard:
                    self._last_heard = now
                    broker_expires, backoff_s = now + self.broker_timeout_s, self._interval_s
                    self._refusal = None
                if now >= next_heartbeat:
                    self._introduce(framing.WORKER_HEARTBEAT)
                    self._still_alive()
                    self._report_refusal()
                    next_heartbeat = now + self._interval_s
                if now > broker_expires:
                    log.warning("no heartbeat from the broker at %s for %g s; reconnecting in %g s",
                                self.broker_address, self.broker_timeout_s, backoff_s)
                    self._disconnect(linger_ms=0)
                    if self._wait(stop, backoff_s):
                        return
                    backoff_s = min(2 * backoff_s, RECONNECT_MAX_S)
                    self._connect()
                    self.reconnects += 1
                    broker_expires = time.monotonic() + self.broker_timeout_s
            self._leave()
        finally:
            self.stopping = True
            self.loop.ended()
            self._disconnect()
            self._pool.close()

    def _wait(self, stop: threading.Event, seconds: float) -> bool:
        """``stop.wait(seconds)``, saying ``still_alive`` every interval meanwhile."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if stop.wait(min(left, self._interval_s)):
                return True
            self._still_alive()
            self.loop.came_round()
        return stop.is_set()

    def _relay(self, broker: zmq.Socket[bytes]) -> bool:
        """Pass on what arrives within one poll interval; returns whether the broker spoke."""
        poller = zmq.Poller()
        poller.register(broker, zmq.POLLIN)
        poller.register(self._pool, zmq.POLLIN)
        events = dict(poller.poll(int(self._interval_s * 1000 / 4)))
        heard = False
        if events.get(broker):
            heard = True
            command, *work = broker.recv_multipart()
            if command == framing.WORKER_WORK:
                self._pool.send_multipart(work)
                self._held += 1
                self.requests_received += 1
            elif command != framing.WORKER_HEARTBEAT:
                log.warning("ignored an unknown command from the broker: %r", command[:20])
        if events.get(self._pool):
            ticket, reply = self._pool.recv_multipart()
            self._held -= 1
            self._send([framing.WORKER_REPLY, ticket, reply])
            self.replies_sent += 1
        return heard

    def _leave(self) -> None:
        """Tell the broker to send nothing more, and answer what the threads still hold."""
        self.stopping = True
        self._send([framing.WORKER_DISCONNECT])
        deadline = time.monotonic() + self._drain_s
        next_heartbeat = 0.0
        while self._held > 0 and time.monotonic() < deadline:
            assert self._broker is not None
            self.loop.came_round()
            self._relay(self._broker)
            if time.monotonic() >= next_heartbeat:
                self._introduce(framing.WORKER_HEARTBEAT)
                self._still_alive()
                next_heartbeat = time.monotonic() + self._interval_s
        log.info("left the broker at %s", self.broker_address)
