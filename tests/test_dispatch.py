"""Which worker the broker picks (peak-EWMA of round trips × load), late replies, old connections.

The choice is a pure function of the workers and the time (``dispatch.choose_worker``); the
broker's part (timing each round trip, counting late replies, telling a worker's old connection
from its live one) is checked on a real ``Broker`` with fake sockets and a fake clock, so every
number here is exact. ``test_network_hops.py`` found the last two on real links.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
import zmq

from model_server.protocol import encode_request_frames
from model_server.serving import broker as broker_module
from model_server.serving.broker import Broker, Worker
from model_server.serving.dispatch import DECAY_S, LEAST_LOADED, PEAK_EWMA, RoundTrips, choose_worker
from model_server.serving.framing import (
    WORKER_HEARTBEAT,
    WORKER_READY,
    WORKER_REPLY,
    WORKER_WORK,
    WorkerHello,
    encode_worker_hello,
)
from model_server.serving.settings import ServerSettings

NEAR_S, FAR_S = 0.160, 0.260


def worker(name: str, capacity: int = 2, held: int = 0, average_s: float | None = None,
           updated: float = 0.0, last_sent: float = 0.0, leaving: bool = False) -> Worker:
    w = Worker(name.encode(), name, capacity, remote=True, last_sent=last_sent, leaving=leaving)
    w.held = {f"{name}-{i}".encode() for i in range(held)}
    w.round_trips = RoundTrips(average_s, updated)
    return w


def test_an_idle_near_worker_is_preferred_to_an_idle_far_one_that_was_sent_to_longer_ago():
    near = worker("near", average_s=NEAR_S, updated=99.0, last_sent=99.5)
    far = worker("far", average_s=FAR_S, updated=99.0, last_sent=90.0)
    assert choose_worker([near, far], now=100.0) is near
    assert choose_worker([near, far], now=100.0, rule=LEAST_LOADED) is far, "the old rule alternates"


def test_load_counts_too_a_busy_near_worker_loses_to_an_idle_far_one():
    near = worker("near", held=1, average_s=NEAR_S, updated=100.0)  # 0.160 × 2 / 2
    far = worker("far", average_s=FAR_S, updated=100.0)  # 0.260 × 1 / 2
    assert choose_worker([near, far], now=100.0) is far


def test_cost_is_per_unit_of_capacity():
    threads = worker("threads", capacity=8, held=3, average_s=FAR_S, updated=100.0)  # 0.26 × 4 / 8
    process = worker("process", capacity=1, average_s=NEAR_S, updated=100.0)  # 0.16 × 1 / 1
    assert choose_worker([threads, process], now=100.0) is threads


def test_a_worker_without_room_or_leaving_gets_nothing_and_with_none_the_request_waits():
    full = worker("full", capacity=2, held=2, average_s=0.001, updated=100.0)
    leaving = worker("leaving", average_s=0.001, updated=100.0, leaving=True)
    slow = worker("slow", average_s=5.0, updated=100.0)
    assert choose_worker([full, leaving, slow], now=100.0) is slow
    assert choose_worker([full, leaving], now=100.0) is None


def test_a_new_worker_is_tried_as_soon_as_it_is_as_lightly_loaded_as_the_best():
    known = worker("known", average_s=NEAR_S, updated=100.0, last_sent=99.9)
    new = worker("new")
    assert choose_worker([known, new], now=100.0) is new
    busy_new = worker("busy-new", held=1)
    assert choose_worker([known, busy_new], now=100.0) is known


def test_without_any_round_trip_the_least_loaded_rule_decides():
    a, b = worker("a", held=1, last_sent=1.0), worker("b", last_sent=2.0)
    assert choose_worker([a, b], now=3.0) is b
    c, d = worker("c", last_sent=2.0), worker("d", last_sent=1.0)
    assert choose_worker([c, d], now=3.0) is d


def test_one_slow_round_trip_counts_at_once_and_fades_after_a_while():
    trips = RoundTrips()
    trips.observe(NEAR_S, now=0.0)
    trips.observe(2.0, now=1.0)
    assert trips.average_s == 2.0, "the peak is taken at once"
    trips.observe(NEAR_S, now=1.1)
    assert trips.average_s == pytest.approx(2.0 * math.exp(-0.01) + NEAR_S * (1 - math.exp(-0.01)))
    slow = worker("slow", average_s=2.0, updated=1.0)
    fast = worker("fast", average_s=0.2, updated=1.0)
    fast.round_trips.observe(0.2, now=1.0 + DECAY_S)
    # slow's decayed average drops below fast's after DECAY_S × ln(2.0 / 0.2) ≈ 23 s
    assert choose_worker([slow, fast], now=1.0 + DECAY_S) is fast
    fast.round_trips.observe(0.2, now=1.0 + 2.4 * DECAY_S)
    assert choose_worker([slow, fast], now=1.0 + 2.4 * DECAY_S) is slow


# --- the broker: round trips timed from dispatch to reply, late replies counted --------------------


@dataclass
class FakeSocket:
    sent: list[list[bytes]] = field(default_factory=list)

    def send_multipart(self, frames, **_options) -> None:
        self.sent.append([bytes(frame) for frame in frames])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(broker_module, "time", SimpleNamespace(monotonic=clock.monotonic))
    return clock


def fake_broker(rule: str = PEAK_EWMA) -> tuple[Broker, FakeSocket, FakeSocket]:
    frontend, remote = FakeSocket(), FakeSocket()
    broker = Broker(ServerSettings(workers=0, backend_address="tcp://127.0.0.1:1", dispatch=rule),
                    frontend, FakeSocket(), remote, local_name=None, local_batch_sizes=dict)
    for name in (b"near", b"far"):
        broker._from_remote([name, WORKER_READY, encode_worker_hello(WorkerHello(name.decode(), 2))])
    return broker, frontend, remote


def request(broker: Broker, clock: Clock, client: bytes) -> bytes:
    """A request from ``client``, dispatched; returns the worker it went to."""
    broker._from_client([client, b"", *encode_request_frames(b"jpeg", request_id=client.decode())])
    broker._dispatch(clock.now)
    return broker._remote.sent[-1][0]


def reply(broker: Broker, worker_name: bytes, after_s: float, clock: Clock) -> None:
    clock.now += after_s
    work = next(frames for frames in reversed(broker._remote.sent)
                if frames[0] == worker_name and frames[1] == WORKER_WORK)
    broker._from_remote([worker_name, WORKER_REPLY, work[2], b'{"id": "x"}'])


def test_the_broker_times_round_trips_and_sends_a_lone_client_to_the_near_worker(clock):
    broker, frontend, _ = fake_broker()
    first = request(broker, clock, b"c1")
    reply(broker, first, NEAR_S if first == b"near" else FAR_S, clock)
    second = request(broker, clock, b"c2")
    assert {first, second} == {b"near", b"far"}, "each worker is tried once"
    reply(broker, second, NEAR_S if second == b"near" else FAR_S, clock)
    assert broker._workers[b"near"].round_trips.average_s == pytest.approx(NEAR_S)
    assert broker._workers[b"far"].round_trips.average_s == pytest.approx(FAR_S)
    chosen = []
    for index in range(10):
        chosen.append(request(broker, clock, f"lone{index}".encode()))
        reply(broker, chosen[-1], NEAR_S if chosen[-1] == b"near" else FAR_S, clock)
    assert chosen == [b"near"] * 10
    assert len(frontend.sent) == 12


def test_the_old_rule_alternates_for_a_lone_client(clock):
    broker, _, _ = fake_broker(LEAST_LOADED)
    chosen = []
    for index in range(6):
        clock.now += 0.001
        chosen.append(request(broker, clock, f"lone{index}".encode()))
        reply(broker, chosen[-1], NEAR_S if chosen[-1] == b"near" else FAR_S, clock)
    assert chosen.count(b"far") == 3


def test_replies_after_their_request_was_answered_are_dropped_and_counted(clock):
    broker, frontend, _ = fake_broker()
    held_by = request(broker, clock, b"c1")
    clock.now += 4.0  # past 1 s × 3 without a heartbeat: both workers are forgotten
    broker._check_remote_workers(clock.now)
    assert broker.stats().workers == [] and broker.stats().workers_lost == 2
    answered = len(frontend.sent)
    broker._from_remote([held_by, WORKER_REPLY, b"ticket?", b'{"id": "c1"}'])
    assert broker.stats().late_replies == 1 and len(frontend.sent) == answered
    broker._from_remote([b"other", WORKER_READY, encode_worker_hello(WorkerHello("other", 2))])
    broker._from_remote([b"other", WORKER_REPLY, b"no such ticket", b'{"id": "c1"}'])
    assert broker.stats().late_replies == 2 and len(frontend.sent) == answered


# --- a worker's old connection after a cut heals ----------------------------------------------------


class RefusingSocket(FakeSocket):
    """A ROUTER whose connection to ``gone`` has dropped: sending there fails (ROUTER_MANDATORY)."""

    def __init__(self, gone: bytes):
        super().__init__()
        self.gone = gone

    def send_multipart(self, frames, **options) -> None:
        if frames[0] == self.gone:
            raise zmq.ZMQError(zmq.EHOSTUNREACH)
        super().send_multipart(frames, **options)


def test_an_old_connections_heartbeat_does_not_bring_its_worker_back_a_second_time(clock):
    broker, _, _ = fake_broker()
    broker._from_remote([b"near-again", WORKER_HEARTBEAT, encode_worker_hello(WorkerHello("near", 2))])
    assert sorted(w.name for w in broker.stats().workers) == ["far", "near"]
    assert b"near-again" not in broker._workers


def test_a_worker_that_connects_again_replaces_its_old_connection(clock):
    broker, _, _ = fake_broker()
    broker._from_remote([b"near-new", WORKER_READY, encode_worker_hello(WorkerHello("near", 2))])
    assert sorted(broker._workers) == [b"far", b"near-new"]


def test_a_request_that_could_not_be_sent_uses_up_no_attempt(clock):
    frontend = FakeSocket()
    remote = RefusingSocket(gone=b"ghost")
    broker = Broker(ServerSettings(workers=0, backend_address="tcp://127.0.0.1:1"),
                    frontend, FakeSocket(), remote, local_name=None, local_batch_sizes=dict)
    for attempt in range(3):  # each time its old connection's heartbeat brings it back
        broker._from_remote([b"ghost", WORKER_HEARTBEAT, encode_worker_hello(WorkerHello("ghost", 2))])
        if attempt == 0:
            broker._from_client([b"c1", b"", *encode_request_frames(b"jpeg", request_id="c1")])
        broker._dispatch(clock.now)
    assert frontend.sent == [] and broker.stats().waiting == 1, "it waits for a worker"
    broker._from_remote([b"live", WORKER_READY, encode_worker_hello(WorkerHello("live", 2))])
    broker._dispatch(clock.now)
    assert remote.sent[-1][:2] == [b"live", WORKER_WORK]
    assert next(iter(broker._tickets.values())).attempts == 1


def test_two_processes_with_one_name_are_two_workers(clock):
    """Two containers on the host's network: one hostname, both pid 1; neither pushes the other out."""
    broker, _, _ = fake_broker()
    for identity, instance in ((b"pod-a", "a" * 16), (b"pod-b", "b" * 16)):
        hello = WorkerHello("host:1", 2, instance=instance)
        broker._from_remote([identity, WORKER_READY, encode_worker_hello(hello)])
    for identity, instance in ((b"pod-a", "a" * 16), (b"pod-b", "b" * 16)):  # their heartbeats
        hello = WorkerHello("host:1", 2, instance=instance)
        broker._from_remote([identity, WORKER_HEARTBEAT, encode_worker_hello(hello)])
    assert {b"pod-a", b"pod-b"} <= set(broker._workers)
    assert broker.stats().workers_lost == 0
