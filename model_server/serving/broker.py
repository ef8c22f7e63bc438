"""The broker: which worker holds which request, until when, and what happens when one is lost.

    frontend ROUTER ─▶ ticket ─▶ waiting ─▶ a worker with room ─▶ reply under the ticket ─▶ client
                                   │                 │
                          deadline passed    worker lost (no heartbeat) ─▶ sent again once,
                          ─▶ deadline_exceeded                           or worker_lost

Every request gets a ticket: the broker keeps the client's envelope, the request's id and its
deadline under it and sends the worker only ``[ticket, budget, *request frames]`` (the budget is
the time left in milliseconds: relative, because the clocks of other machines differ). A reply
is delivered only if its ticket is still open and held by the worker that sent it, so a late
reply (after the deadline, or after the request was sent to another worker) is dropped: nothing
reaches the wrong client, nothing arrives twice, and every request leaves the queue exactly once.

Workers are the in-process threads behind the ``inproc://`` DEALER (one entry, as many places
as threads) and remote worker processes on the TCP ROUTER, which say READY with their capacity
and exchange heartbeats with the broker (the zguide's Paranoid Pirate pattern). A remote worker
that misses ``heartbeat_liveness`` heartbeats, or cannot be sent to, is forgotten; each request
it held is sent to another worker once, or answered ``worker_lost``. Requests go to the worker
cheapest for its capacity (``dispatch``: priced by its recent round trips, then by its load),
so a request waits in the broker, where its deadline is watched, rather than in some worker's
queue.

Other threads (the HTTP endpoints' probes and metrics, see ``probes``) never read the broker's
state while it changes: they ask, and the broker answers on its own thread at its next turn
(``on_its_thread``); each turn it also tells its ``LoopWatch`` that it came round.

When told to stop, the broker drains: it answers each new request ``stopping`` at once, lets the
requests in flight finish for ``drain_seconds``, and then answers those still open ``stopping``
too, so that no client is left waiting for a server that has gone.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, TypeVar

import zmq

from ..protocol import (
    LOCAL_WORKER,
    REMOTE_WORKER,
    ErrorCode,
    ServerStats,
    WorkerStats,
    encode_error,
    encode_stats,
    error_code_of,
    read_header,
)
from . import framing
from .dispatch import RoundTrips, choose_worker
from .health import LoopWatch, Verdict
from .settings import POLL_INTERVAL_MS, ServerSettings

log = logging.getLogger(__name__)

#: How many workers a request may be sent to before a lost worker means ``worker_lost``.
MAX_ATTEMPTS = 2
#: The key of the in-process worker threads among the workers.
LOCAL = b""

T = TypeVar("T")


def split_envelope(frames: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """Split what a ROUTER receives into the routing envelope and the request's own frames.

    The envelope is the client's identity (added by the ROUTER), plus the empty delimiter frame
    that REQ sockets send; a DEALER client may leave the delimiter out. Identities are never
    empty, so an empty second frame can only be a delimiter.
    """
    cut = 2 if len(frames) > 2 and frames[1] == b"" else 1
    return frames[:cut], frames[cut:]


@dataclass
class Ticket:
    """One request in the broker: where its reply goes and until when anybody waits for it."""

    envelope: list[bytes]
    body: list[bytes]
    request_id: str | None
    deadline: float
    #: The request is in the original write-up's dialect: the broker's own errors carry ``"preds"``.
    original: bool = False
    #: The worker holding it (``LOCAL`` or a remote identity); ``None`` while it waits.
    worker: bytes | None = None
    attempts: int = 0
    #: When it was last sent to a worker (``time.monotonic()``), for that worker's round trips.
    sent: float = 0.0


@dataclass
class Worker:
    """The in-process threads, or one remote worker process, as the broker keeps track of them."""

    identity: bytes
    name: str
    capacity: int
    remote: bool
    held: set[bytes] = field(default_factory=set)
    last_heartbeat: float = 0.0
    expires: float = float("inf")
    last_sent: float = 0.0
    #: Said DISCONNECT: gets no more work, but may still answer what it holds.
    leaving: bool = False
    batch_sizes: dict[int, int] = field(default_factory=dict)
    round_trips: RoundTrips = field(default_factory=RoundTrips)
    #: A remote worker's process (``WorkerHello.instance``), with ``name`` what tells it apart.
    instance: str = ""

    def has_room(self) -> bool:
        return not self.leaving and len(self.held) < self.capacity


class Broker:
    """Runs on the server's main thread; owns the frontend and both backends while it runs."""

    def __init__(
        self, settings: ServerSettings, frontend: zmq.Socket[bytes], local_backend: zmq.Socket[bytes],
        remote_backend: zmq.Socket[bytes] | None, local_name: str | None,
        local_batch_sizes: Callable[[], dict[int, int]],
    ):
        self.settings = settings
        self._frontend = frontend
        self._local = local_backend
        self._remote = remote_backend
        self._local_batch_sizes = local_batch_sizes
        self._tickets: dict[bytes, Ticket] = {}
        self._waiting: deque[bytes] = deque()
        self._workers: dict[bytes, Worker] = {}
        if local_name is not None:
            self._workers[LOCAL] = Worker(LOCAL, local_name, settings.workers, remote=False)
        # Tickets are unique across restarts, so a worker's reply to an earlier broker on the
        # same address can never match a ticket of this one.
        self._ticket_prefix = os.urandom(4)
        self._next_ticket = 0
        self._heartbeat_s = settings.heartbeat_interval_s
        self._worker_timeout_s = settings.heartbeat_interval_s * settings.heartbeat_liveness
        self._next_heartbeat = 0.0
        self._started = time.monotonic()
        self._requests = 0
        self._replies = 0
        self._errors: Counter[str] = Counter()
        self._workers_joined = 0
        self._workers_lost = 0
        self._retries = 0
        #: Replies that came after their request was answered (by another worker, or an error).
        self._late_replies = 0
        self._batch_sizes_of_departed: Counter[int] = Counter()
        #: Stopping: new requests are answered ``stopping`` while those in flight finish.
        self._draining = False
        self.loop = LoopWatch("the broker's loop")
        #: Questions of other threads, answered on the broker's thread at its next turn.
        self._questions: deque[tuple[Callable[[], object], Future[Any]]] = deque()

    # The loop ---------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Relay requests and replies until ``stop`` is set, then let open requests finish."""
        poller = zmq.Poller()
        for socket in (self._frontend, self._local, self._remote):
            if socket is not None:
                poller.register(socket, zmq.POLLIN)
        try:
            self._serve(stop, poller)
        finally:
            self.loop.ended()
            self._answer_questions()

    def _serve(self, stop: threading.Event, poller: zmq.Poller) -> None:
        drain_deadline: float | None = None
        while True:
            self.loop.came_round()
            self._answer_questions()
            if stop.is_set() and drain_deadline is None:
                self._draining = True
                drain_deadline = time.monotonic() + self.settings.drain_seconds
                log.info("stopping: finishing %d request(s) in flight", len(self._tickets))
            if drain_deadline is not None and (not self._tickets or time.monotonic() > drain_deadline):
                self._give_up_unfinished()
                return
            events = dict(poller.poll(POLL_INTERVAL_MS))
            try:
                self._handle(events)
            except Exception:  # one bad message must not take every client's broker down
                log.exception("the broker failed on a message; it goes on")

    def on_its_thread(self, question: Callable[[], T], timeout_s: float) -> T | None:
        """``question()`` asked from another thread, answered by the broker's own thread at its
        next turn (within a poll interval), so that nothing it owns is read while it changes.

        ``None`` if the broker does not come round within ``timeout_s`` (its loop stalled). Once
        the loop has ended nothing changes any more: the question is answered at once.
        """
        if self.loop.has_ended:
            return question()
        answer: Future[T] = Future()
        self._questions.append((question, answer))
        try:
            return answer.result(timeout_s)
        except FutureTimeout:
            return None

    def _answer_questions(self) -> None:
        while self._questions:
            question, answer = self._questions.popleft()
            try:
                answer.set_result(question())
            except Exception as error:
                answer.set_exception(error)

    def readiness(self) -> Verdict:
        """Whether a request sent now would be answered; ask it ``on_its_thread``."""
        if self._draining or self.loop.has_ended:
            return Verdict(False, "stopping: the model server takes no new requests")
        taking = [worker for worker in self._workers.values() if not worker.leaving]
        if not taking:
            where = f" at {self.settings.backend_address}" if self._remote is not None else ""
            return Verdict(False, f"no worker can take work: no remote worker has joined{where}")
        threads = sum(worker.capacity for worker in taking)
        return Verdict(True, f"ready: {len(taking)} worker(s), {threads} thread(s)")

    def _handle(self, events: dict[zmq.Socket[bytes], int]) -> None:
        if events.get(self._frontend):
            self._from_client(self._frontend.recv_multipart())
        if events.get(self._local):
            self._from_local(self._local.recv_multipart())
        if self._remote is not None and events.get(self._remote):
            self._from_remote(self._remote.recv_multipart())
        now = time.monotonic()
        self._expire(now)
        self._check_remote_workers(now)
        self._dispatch(now)

    # Clients ----------------------------------------------------------------------------------

    def _from_client(self, frames: list[bytes]) -> None:
        envelope, body = split_envelope(frames)
        header = read_header(body[0] if body else b"")
        if header.op == "stats":
            self._frontend.send_multipart([*envelope, encode_stats(self.stats(header.id))])
            return
        if self._draining:
            self._send_error(envelope, ErrorCode.STOPPING,
                             "the model server is stopping and takes no new requests; try again "
                             "once it (or another) is up", header.id, header.original)
            return
        if len(self._tickets) >= self.settings.max_queue:
            message = (f"the model server is busy ({self.settings.max_queue} requests waiting); "
                       "try again in a moment")
            self._send_error(envelope, ErrorCode.BUSY, message, header.id, header.original)
            return
        budget_s = (header.deadline_ms / 1000.0 if header.deadline_ms is not None
                    else self.settings.request_timeout_s)
        key = self._ticket_prefix + self._next_ticket.to_bytes(8, "big")
        self._next_ticket += 1
        self._tickets[key] = Ticket(envelope, body, header.id, time.monotonic() + budget_s,
                                    original=header.original)
        self._waiting.append(key)
        self._requests += 1

    def _send_error(self, envelope: list[bytes], code: ErrorCode, message: str,
                    request_id: str | None, original: bool) -> None:
        self._errors[code.value] += 1
        self._frontend.send_multipart([*envelope, encode_error(code, message, request_id, original)])

    def _give_up_unfinished(self) -> None:
        """At the end of the drain time, tell the clients still waiting instead of going silent."""
        if self._tickets:
            log.warning("stopping: %d request(s) not finished within --drain-seconds %g are "
                        "answered %s", len(self._tickets), self.settings.drain_seconds,
                        ErrorCode.STOPPING.value)
        for key in list(self._tickets):
            self._close_with_error(
                key, ErrorCode.STOPPING,
                f"the model server stopped before it finished this request (it waits "
                f"{self.settings.drain_seconds:g} s for requests in flight); try again")

    def _close_with_error(self, key: bytes, code: ErrorCode, message: str) -> None:
        ticket = self._tickets.pop(key)
        self._release(key, ticket)
        self._replies += 1
        self._send_error(ticket.envelope, code, message, ticket.request_id, ticket.original)

    def _release(self, key: bytes, ticket: Ticket) -> None:
        """The worker holding a ticket has room again (if it is still known)."""
        worker = self._workers.get(ticket.worker) if ticket.worker is not None else None
        if worker is not None:
            worker.held.discard(key)

    # Replies ----------------------------------------------------------------------------------

    def _from_local(self, frames: list[bytes]) -> None:
        if len(frames) == 2:
            self._deliver(LOCAL, frames[0], frames[1])
        else:
            log.warning("dropped a malformed reply of %d frames from a worker thread", len(frames))

    def _deliver(self, worker_id: bytes, key: bytes, reply: bytes) -> None:
        """Send a worker's reply to its client, if the ticket is still open and this worker's."""
        ticket = self._tickets.get(key)
        if ticket is None or ticket.worker != worker_id:
            self._late_replies += 1
            log.debug("dropped a late reply (its request was answered already)")
            return
        del self._tickets[key]
        self._release(key, ticket)
        worker = self._workers.get(worker_id)
        if worker is not None:
            now = time.monotonic()
            worker.round_trips.observe(now - ticket.sent, now)
        self._replies += 1
        code = error_code_of(reply)
        if code is not None:
            self._errors[code] += 1
        self._frontend.send_multipart([*ticket.envelope, reply])

    # Deadlines and dispatch -------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        expired = [key for key, ticket in self._tickets.items() if now >= ticket.deadline]
        for key in expired:
            self._close_with_error(
                key, ErrorCode.DEADLINE_EXCEEDED,
                "the request's deadline passed before the model server could answer it")
        if expired:
            self._waiting = deque(key for key in self._waiting if key in self._tickets)

    def _dispatch(self, now: float) -> None:
        while self._waiting:
            worker = choose_worker(self._workers.values(), now, self.settings.dispatch)
            if worker is None:
                return
            key = self._waiting.popleft()
            ticket = self._tickets.get(key)
            if ticket is None:  # answered while it waited
                continue
            work = [key, framing.encode_budget((ticket.deadline - now) * 1000.0), *ticket.body]
            ticket.worker, ticket.attempts, ticket.sent = worker.identity, ticket.attempts + 1, now
            worker.held.add(key)
            worker.last_sent = now
            if not worker.remote:
                self._local.send_multipart(work, copy=False)
            elif not self._send_to_remote(worker, [framing.WORKER_WORK, *work]):
                # Never sent, so no attempt used up: it waits for another worker.
                worker.held.discard(key)
                ticket.worker, ticket.attempts = None, ticket.attempts - 1
                self._waiting.appendleft(key)
                self._forget(worker, "it cannot be reached", now)

    # Remote workers ---------------------------------------------------------------------------

    def _send_to_remote(self, worker: Worker, frames: list[bytes]) -> bool:
        assert self._remote is not None
        try:
            self._remote.send_multipart([worker.identity, *frames], flags=zmq.NOBLOCK, copy=False)
        except zmq.ZMQError:  # gone (ROUTER_MANDATORY) or not reading (its queue is full)
            return False
        return True

    def _from_remote(self, frames: list[bytes]) -> None:
        if len(frames) < 2:
            return
        identity, command, rest = frames[0], frames[1], frames[2:]
        now = time.monotonic()
        worker = self._workers.get(identity)
        if command in (framing.WORKER_READY, framing.WORKER_HEARTBEAT):
            try:
                hello = framing.decode_worker_hello(rest[0] if rest else b"")
            except ValueError as error:
                log.warning("ignored a worker's %s: %s", command.decode(errors="replace"), error)
                return
            if worker is not None and command == framing.WORKER_READY:
                self._forget(worker, "it started over", now)
                worker = None
            if worker is None and (same := self._same_process(hello)) is not None:
                # One worker process, two connections: the older one's last words, which TCP
                # delivered after a cut healed, must not bring it back as a second worker that
                # nobody answers for. A READY is the live connection: it replaces the older.
                if command == framing.WORKER_HEARTBEAT:
                    return
                self._forget(same, "it connected again", now)
            if worker is None:
                worker = Worker(identity, hello.worker, hello.capacity, remote=True,
                                instance=hello.instance)
                self._workers[identity] = worker
                self._workers_joined += 1
                log.info("remote worker %s joined (%d thread(s))", hello.worker, hello.capacity)
            worker.capacity, worker.batch_sizes = hello.capacity, hello.batch_sizes
        elif worker is None:  # a worker forgotten earlier: what it says now is too late
            if command == framing.WORKER_REPLY:
                self._late_replies += 1
            return
        worker.last_heartbeat, worker.expires = now, now + self._worker_timeout_s
        if command == framing.WORKER_REPLY and len(rest) == 2:
            self._deliver(identity, rest[0], rest[1])
        elif command == framing.WORKER_DISCONNECT:
            worker.leaving = True
            log.info("remote worker %s is leaving; it finishes its %d request(s)",
                     worker.name, len(worker.held))

    def _same_process(self, hello: framing.WorkerHello) -> Worker | None:
        """The worker already known as the process that says ``hello``, on another connection."""
        return next((w for w in self._workers.values()
                     if w.remote and w.name == hello.worker and w.instance == hello.instance), None)

    def _check_remote_workers(self, now: float) -> None:
        remote = [worker for worker in self._workers.values() if worker.remote]
        for worker in remote:
            if now > worker.expires:
                self._forget(worker, f"no heartbeat for {self._worker_timeout_s:g} s", now)
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + self._heartbeat_s
            for worker in remote:
                if (worker.identity in self._workers
                        and not self._send_to_remote(worker, [framing.WORKER_HEARTBEAT])):
                    self._forget(worker, "it cannot be reached", now)

    def _forget(self, worker: Worker, why: str, now: float) -> None:
        """Stop sending to a worker; send what it held to another one, once, or answer it."""
        del self._workers[worker.identity]
        self._batch_sizes_of_departed.update(worker.batch_sizes)
        if worker.leaving and not worker.held:
            log.info("remote worker %s left", worker.name)
            return
        self._workers_lost += 1
        someone_else = any(not w.leaving for w in self._workers.values())
        retried = lost = 0
        for key in sorted(worker.held, reverse=True):  # appended to the left: keeps their order
            ticket = self._tickets.get(key)
            if ticket is None:
                continue
            if someone_else and ticket.attempts < MAX_ATTEMPTS and now < ticket.deadline:
                ticket.worker = None
                self._waiting.appendleft(key)
                retried += 1
            else:
                lost += 1
                self._close_with_error(
                    key, ErrorCode.WORKER_LOST,
                    f"the worker answering this request ({worker.name}) was lost and no other "
                    "worker could take it over; try again")
        self._retries += retried
        log.warning("forgot remote worker %s (%s): %d request(s) sent to another worker, "
                    "%d answered worker_lost", worker.name, why, retried, lost)

    # Stats ------------------------------------------------------------------------------------

    def stats(self, request_id: str | None = None) -> ServerStats:
        now = time.monotonic()
        batch_sizes = Counter(self._batch_sizes_of_departed)
        batch_sizes.update(self._local_batch_sizes())
        for worker in self._workers.values():
            batch_sizes.update(worker.batch_sizes)
        return ServerStats(
            waiting=len(self._waiting),
            in_flight=len(self._tickets) - len(self._waiting),
            max_queue=self.settings.max_queue,
            workers=[
                WorkerStats(
                    worker.name, REMOTE_WORKER if worker.remote else LOCAL_WORKER, worker.capacity,
                    len(worker.held),
                    round(now - worker.last_heartbeat, 3) if worker.remote else None,
                )
                for worker in self._workers.values()
            ],
            batch_sizes=dict(sorted(batch_sizes.items())),
            requests=self._requests,
            replies=self._replies,
            errors=dict(self._errors),
            workers_lost=self._workers_lost,
            retries=self._retries,
            uptime_s=round(now - self._started, 3),
            id=request_id,
            workers_joined=self._workers_joined,
            late_replies=self._late_replies,
        )
