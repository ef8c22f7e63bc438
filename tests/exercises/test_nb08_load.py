"""Checks for notebook 08's exercise: ``closed_loop``, a closed-loop load generator.

Each check hands ``closed_loop`` a fake server (``FakeServer``): ``send(k)`` sleeps for a time
that depends on ``k`` and writes down which thread sent what, when, and how many requests were in
flight. The sleeps are tens of milliseconds, so the checks take seconds.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

#: Seconds ``closed_loop`` may take in a check before it counts as hung (the runs take < 1 s).
RUN_TIMEOUT_S = 15.0
#: How much longer than ``send`` itself a request's latency may be (thread switches on a busy machine).
LATENCY_SLACK_S = 0.05
#: How much longer than the requests' span the wall time may be (starting and joining threads).
WALL_SLACK_S = 0.1


class SendFailed(RuntimeError):
    """What the fake server raises for the request it is told to fail."""


@dataclass
class Sent:
    number: int
    thread: threading.Thread
    began: float
    ended: float


@dataclass
class FakeServer:
    """``send(k)`` for ``closed_loop``: answers after ``duration(k)`` seconds, as many at once as asked."""

    duration: Callable[[int], float]
    fail: int | None = None
    sent: list[Sent] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    #: Every thread that called ``send``, noted as it calls.
    threads: set[threading.Thread] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, number: int) -> int:
        began = time.perf_counter()
        with self.lock:
            self.in_flight += 1
            self.threads.add(threading.current_thread())
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.duration(number))
            if number == self.fail:
                raise SendFailed(f"request {number} failed (the check's fake server fails it)")
            return number
        finally:
            with self.lock:
                self.in_flight -= 1
                self.sent.append(Sent(number, threading.current_thread(), began, time.perf_counter()))

    def seconds_of(self, number: int) -> float:
        return next(s.ended - s.began for s in self.sent if s.number == number)

    def span(self) -> float:
        """From the first request sent to the last answer, as the server saw them."""
        return max(s.ended for s in self.sent) - min(s.began for s in self.sent)

    def share_below(self, clients: int) -> float:
        """The share of the time, from the first send to the last request's send, during which
        fewer than ``clients`` requests were in flight (the end, when requests run out, not counted)."""
        start, last_send = min(s.began for s in self.sent), max(s.began for s in self.sent)
        if last_send <= start:
            return 0.0
        events = sorted([(s.began, 1) for s in self.sent] + [(s.ended, -1) for s in self.sent])
        below, level, previous = 0.0, 0, start
        for moment, change in events:
            moment = min(max(moment, start), last_send)
            if level < clients:
                below += moment - previous
            level, previous = level + change, moment
        return below / (last_send - start)


@dataclass
class Outcome:
    run: Any = None
    error: BaseException | None = None


def _call(nb08: Any, attempt: Callable[..., Any], server: FakeServer, clients: int, requests: int) -> Outcome:
    """Run the learner's ``closed_loop`` against ``server``; fail if it hangs or leaves threads running."""
    outcome = Outcome()

    def target() -> None:
        try:
            outcome.run = attempt(nb08.closed_loop, server, clients, requests)
        except BaseException as error:  # pytest.fail from attempt too: re-raised below
            outcome.error = error

    runner = threading.Thread(target=target, daemon=True)
    runner.start()
    runner.join(RUN_TIMEOUT_S)
    if runner.is_alive():
        pytest.fail(f"closed_loop(send, clients={clients}, requests={requests}) did not return within "
                    f"{RUN_TIMEOUT_S:g} s: is a thread waiting for something that never comes (a "
                    "client that failed, a barrier, a queue)?", pytrace=False)
    if isinstance(outcome.error, pytest.fail.Exception):
        raise outcome.error
    left = [thread for thread in server.threads if thread.is_alive()]
    if left:
        pytest.fail(f"closed_loop returned while {len(left)} of its client threads were still running: "
                    "join() every thread before you stop the clock and return", pytrace=False)
    return outcome


def _run(nb08: Any, attempt: Callable[..., Any], server: FakeServer, clients: int, requests: int) -> Any:
    """``_call`` for a run in which every send succeeds: a LoadRun with one latency per request."""
    outcome = _call(nb08, attempt, server, clients, requests)
    _every_number_sent_once(server, requests)
    if outcome.error is not None:
        pytest.fail(f"closed_loop raised {outcome.error!r} though every send succeeded", pytrace=False)
    run = outcome.run
    if not (hasattr(run, "latencies_s") and hasattr(run, "wall_s")):
        pytest.fail(f"closed_loop returned {run!r}: return LoadRun(latencies_s, wall_s)", pytrace=False)
    latencies = list(run.latencies_s)
    if len(latencies) != requests or not all(isinstance(x, float) for x in latencies):
        pytest.fail(f"latencies_s should be {requests} floats, request k's seconds at index k; "
                    f"got {latencies!r}", pytrace=False)
    return run


def _every_number_sent_once(server: FakeServer, requests: int) -> None:
    numbers = sorted(s.number for s in server.sent)
    missing = sorted(set(range(requests)) - set(numbers))
    extra = sorted({n for n in numbers if not 0 <= n < requests})
    twice = sorted({n for n in numbers if numbers.count(n) > 1})
    problems = []
    if missing:
        problems.append(f"never sent {missing}")
    if extra:
        problems.append(f"sent {extra}, beyond 0…{requests - 1}")
    if twice:
        problems.append(f"sent {twice} more than once")
    if problems:
        pytest.fail(f"with requests={requests}, send every number 0…{requests - 1} exactly once "
                    f"(one request too many or too few?): {'; '.join(problems)}", pytrace=False)


def _varied(number: int) -> float:
    """20, 50 or 80 ms, by request number."""
    return 0.02 + 0.03 * (number % 3)


@pytest.fixture
def nb08(load_answers):
    return load_answers("nb08_load")


def test_every_request_is_sent_once_and_timed(nb08, attempt):
    server = FakeServer(_varied)
    run = _run(nb08, attempt, server, clients=3, requests=10)
    assert all(x > 0 for x in run.latencies_s), f"every request takes time; latencies_s: {run.latencies_s}"


def test_all_clients_have_a_request_in_flight_at_once(nb08, attempt):
    server = FakeServer(lambda number: 0.1)
    _run(nb08, attempt, server, clients=4, requests=8)
    assert server.max_in_flight == 4, (
        f"at most {server.max_in_flight} requests were in flight at once with clients=4: start every "
        "client thread before you join any, so that all of them send at the same time"
    )


def test_a_client_sends_its_next_request_as_soon_as_its_answer_arrives(nb08, attempt):
    # In each pair of requests one is slow: a client that waits for the other loses most of its time.
    server = FakeServer(lambda number: 0.09 if number % 4 in (0, 3) else 0.01)
    _run(nb08, attempt, server, clients=2, requests=16)
    below = server.share_below(2)
    assert below < 0.3, (
        f"for {below:.0%} of the run fewer than 2 requests were in flight: a client that has its answer "
        "should send its next request at once, not wait for the other clients (no rounds in lockstep)"
    )


def test_each_latency_is_the_time_of_its_own_request(nb08, attempt):
    server = FakeServer(_varied)
    run = _run(nb08, attempt, server, clients=2, requests=9)
    measured = list(run.latencies_s)
    actual = [server.seconds_of(k) for k in range(9)]
    assert len(set(measured)) > 1, (
        f"every latency is {measured[0]!r}: time each request on its own, with time.perf_counter() "
        "just before its send and just after, not the wall time divided among the requests"
    )
    ratio = statistics.median(m / a for m, a in zip(measured, actual))
    assert not 300 < ratio < 3000, (
        f"latencies_s are in seconds: request 0 took {actual[0]:.3f} s, you reported {measured[0]!r} "
        "(milliseconds?)"
    )
    late = [k for k in range(9) if not actual[k] - 1e-3 <= measured[k] <= actual[k] + LATENCY_SLACK_S]
    assert not late, (
        f"request {late[0]} took {actual[late[0]]:.3f} s in send, but latencies_s[{late[0]}] is "
        f"{measured[late[0]]:.3f}: take time.perf_counter() just before each send(k) and just after "
        "it returns, not from the start of the run"
    )


def test_the_wall_time_covers_every_request_and_no_more(nb08, attempt):
    server = FakeServer(_varied)
    run = _run(nb08, attempt, server, clients=3, requests=9)
    span = server.span()
    assert run.wall_s >= span - 1e-3, (
        f"wall_s is {run.wall_s:.3f} s, but the requests took {span:.3f} s from the first sent to the "
        "last answered: stop the clock after joining every thread"
    )
    assert run.wall_s <= span + WALL_SLACK_S, (
        f"wall_s is {run.wall_s:.3f} s, but the requests took {span:.3f} s from the first sent to the "
        "last answered: wall_s is the clock from start to end, not the sum of the latencies"
    )


def test_a_failed_send_is_raised_after_every_client_has_stopped(nb08, attempt):
    server = FakeServer(lambda number: 0.03, fail=4)
    outcome = _call(nb08, attempt, server, clients=3, requests=12)
    assert isinstance(outcome.error, SendFailed), (
        "send raised SendFailed for request 4, but closed_loop "
        + (f"raised {outcome.error!r}" if outcome.error else f"returned {outcome.run!r}")
        + ": the exception was swallowed; keep it, and raise it once every thread has ended"
    )
