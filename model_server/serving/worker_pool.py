"""Worker threads sharing one ``Batcher``, and the supervisor thread that replaces the ones that hang.

The model server runs one pool on its backend; a remote worker process runs one behind its link
to the broker (``remote_worker``). Each thread serves one DEALER socket connected to the pool's
``inproc://`` endpoint and answers each request with a ``RequestHandler``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import zmq
from prometheus_client import CollectorRegistry

from ..models.classifier import Classifier
from ..protocol import ErrorCode, error_reply_for
from .batching import Batcher, DecodeAbandoned
from .framing import decode_budget
from .metrics import StageLatencies, WorkerPoolCollector
from .request_handler import RequestHandler
from .settings import POLL_INTERVAL_MS, SUPERVISE_INTERVAL_S, ServerSettings

log = logging.getLogger(__name__)

#: How long a stopping worker may keep sending its last replies.
WORKER_LINGER_MS = 1000


@dataclass
class _WorkerSlot:
    """One worker's socket and the thread serving it now.

    A thread holds ``lock`` whenever it uses the socket, never while it answers a request, so
    the supervisor can answer for a thread stuck in a decode and hand the socket to a new one
    (ZeroMQ lets a socket move between threads behind a full memory barrier, which the lock is).
    """

    index: int
    socket: zmq.Socket[bytes] | None = None
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

    Its metrics (batch sizes, stage latencies, threads given up) go to ``registry``, the
    process's own (see ``metrics``).
    """

    def __init__(
        self, classifier: Classifier, settings: ServerSettings, endpoint: str,
        context: zmq.Context[zmq.Socket[bytes]], registry: CollectorRegistry | None = None,
    ):
        self._settings = settings
        self._endpoint = endpoint
        self._context = context
        self._batcher = Batcher(classifier, settings.max_batch, settings.max_delay_ms)
        registry = registry if registry is not None else CollectorRegistry()
        self._handler = RequestHandler(classifier, settings, self._batcher,
                                       on_answered=StageLatencies(registry).observe)
        registry.register(WorkerPoolCollector(self))
        self._stop = threading.Event()
        self._slots = [_WorkerSlot(index) for index in range(settings.workers)]
        self._supervisor = threading.Thread(target=self._supervise, name="worker-supervisor", daemon=True)
        #: Decodes given up as hung so far (their threads may still be stuck).
        self.abandoned_decodes = 0

    @property
    def batch_sizes(self) -> dict[int, int]:
        return self._batcher.batch_sizes

    @property
    def hung_forward_passes(self) -> int:
        """Forward passes given up as hung so far."""
        return self._batcher.replaced_threads

    def still_stuck(self) -> tuple[int, int]:
        """Forward passes and decodes given up as hung whose threads have not returned yet."""
        return self._batcher.still_stuck()

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
                self._answer(slot, error_reply_for(
                    slot.header, ErrorCode.INTERNAL,
                    "the worker thread answering this request died; try again"))
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
            for stuck in self._batcher.abandon_overdue_decodes(hang_timeout_s):
                self._take_over_from(stuck)
            for slot in self._slots:
                if slot.thread is not None and not slot.thread.is_alive() and not self._stop.is_set():
                    log.error("worker thread %s died; starting a new one", slot.thread.name)
                    self._start_thread(slot)

    def _take_over_from(self, stuck: threading.Thread) -> None:
        """Answer the request of a thread stuck in a decode, and serve its socket with a new thread."""
        slot = next(slot for slot in self._slots if slot.thread is stuck)
        hang_timeout_s = self._settings.hang_timeout_s
        self._answer(slot, error_reply_for(
            slot.header, ErrorCode.DECODE_TIMEOUT,
            f"decoding this image took longer than {hang_timeout_s:g} s and was given up; the "
            "image itself is the likely cause, so sending it again will not help"))
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
