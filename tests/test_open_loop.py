"""The open-loop load generator: a Poisson schedule, bounded in time and count; replies matched by
id; busy, errors and timeouts counted as such; loopback only; the web app's 503 counted as busy.

Everything here runs against real sockets in seconds: fake ZeroMQ servers in threads (the shared
``scripted_server`` and ``silent_server`` fixtures; ``delayed_server`` answers each request after
a delay named in its image, so replies come back out of order) and the real web app served over
HTTP in a thread, in front of those fakes.
"""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest
from werkzeug.serving import make_server

from harness.open_loop import (
    NotLoopback,
    OpenLoopRun,
    Outcome,
    RequestRecord,
    most_in_flight,
    poisson_schedule,
    require_loopback,
    run_http,
    run_zmq,
    summarize,
)
from harness.sample_images import photo_jpegs
from harness.stubs import Answer, Later
from model_server.protocol import (
    UNTRAINED,
    ErrorCode,
    Prediction,
    PredictReply,
    Timings,
    encode_error,
    encode_reply,
    request_id_of,
)

#: Every test here takes a second or less; a generator that never ends fails fast.
pytestmark = pytest.mark.timeout(30)

JPEG = photo_jpegs(1)[0]


def _predictions(request_id: str | None) -> bytes:
    return encode_reply(PredictReply([Prediction("tabby", "n02123045", 1.0)], UNTRAINED, "resnet50",
                                     Timings(1.0, 1.0, 1.0, 3.0), id=request_id))


def _error(code: ErrorCode):
    return lambda request: encode_error(code, f"scripted {code.value}", request_id_of(request[0]))


def _ok(request: list[bytes]) -> bytes:
    return _predictions(request_id_of(request[0]))


def _after_the_delay_in_the_image(request: list[bytes]) -> Answer:
    """Answered after the delay the image names (``b"0.30"``; anything else: 0.05 s), so that a
    later request can be answered first; an image ``b"stray"`` gets a reply with somebody else's
    id, and no reply of its own."""
    _header, image = request
    if image == b"stray":
        return _predictions("nobody-waits-for-this")
    return Later(float(image) if image[:1].isdigit() else 0.05, _ok(request))


@pytest.fixture
def delayed_server(scripted_server):
    return scripted_server(_after_the_delay_in_the_image)


@pytest.fixture
def serve_http():
    """``serve_http(app)``: the Flask app over real HTTP on a free loopback port; its URL."""
    servers = []

    def serve(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, name="open-loop-web-app", daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


# The schedule -----------------------------------------------------------------------------------

def test_arrivals_are_poisson_at_the_offered_rate() -> None:
    rate = 200.0
    schedule = poisson_schedule(rate, duration_s=10.0, max_requests=100_000, seed=3)
    gaps = np.diff([0.0, *schedule])
    n = len(gaps)
    # Exponential gaps: mean 1/rate (standard error (1/rate)/√n), standard deviation equal to the
    # mean, and 1 - 1/e of them shorter than the mean. Evenly spaced sends would fail the last two.
    assert abs(gaps.mean() * rate - 1) < 4 / np.sqrt(n)
    assert abs(gaps.std() / gaps.mean() - 1) < 0.1
    assert abs((gaps < 1 / rate).mean() - (1 - np.exp(-1))) < 0.05
    assert abs(n - rate * 10.0) < 4 * np.sqrt(rate * 10.0)


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    assert poisson_schedule(50, 2, 1000, seed=7) == poisson_schedule(50, 2, 1000, seed=7)
    assert poisson_schedule(50, 2, 1000, seed=7) != poisson_schedule(50, 2, 1000, seed=8)


def test_a_schedule_ends_at_its_count_or_its_duration_whichever_comes_first() -> None:
    assert len(poisson_schedule(1000.0, duration_s=60.0, max_requests=50)) == 50
    short = poisson_schedule(1000.0, duration_s=0.5, max_requests=100_000)
    assert 300 < len(short) < 700 and max(short) < 0.5
    assert all(b > a for a, b in itertools.pairwise(short))
    with pytest.raises(ValueError):
        poisson_schedule(0.0, 1.0, 10)


def test_http_senders_are_as_many_as_could_be_waiting_at_once() -> None:
    assert most_in_flight([0.0, 0.1, 0.2, 1.5, 1.6], timeout_s=1.0) == 3
    assert most_in_flight([0.0, 2.0, 4.0], timeout_s=1.0) == 1


# Loopback only ----------------------------------------------------------------------------------

@pytest.mark.parametrize("address", ["tcp://192.0.2.1:5576", "http://example.com/api/predict",
                                     "tcp://127.0.0.1.example.com:5576", "tcp://0.0.0.0:5576",
                                     "ipc:///tmp/model-server", "https://127.0.0.1/api/predict"])
def test_an_address_beyond_loopback_is_refused_before_anything_is_sent(address: str) -> None:
    began = time.perf_counter()
    with pytest.raises(NotLoopback, match=r"refusing|only"):
        if address.startswith("http"):
            run_http(address, [JPEG], [0.0], timeout_s=5.0)
        else:
            run_zmq(address, [JPEG], [0.0], timeout_s=5.0)
    assert time.perf_counter() - began < 0.5


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:5576", "tcp://127.3.2.1:5576",
                                     "tcp://[::1]:5576", "http://localhost:8000/api/predict"])
def test_loopback_addresses_are_accepted(address: str) -> None:
    require_loopback(address)


# Through the ZeroMQ protocol --------------------------------------------------------------------

def test_replies_are_matched_to_their_requests_by_id_whatever_their_order(delayed_server) -> None:
    delays = [0.45, 0.05, 0.30, 0.15]
    images = [f"{delay:.2f}".encode() for delay in delays] + [b"stray"]
    run = run_zmq(delayed_server.address, images, [0.0, 0.01, 0.02, 0.03, 0.04], timeout_s=1.0)
    answered = {r.index: r for r in run.records if r.outcome is Outcome.ANSWERED}
    assert sorted(answered) == [0, 1, 2, 3]
    for index, delay in enumerate(delays):
        # Each latency is its own request's delay: matched by arrival order they would be shuffled.
        assert delay * 1000 - 5 < answered[index].latency_ms < delay * 1000 + 120, (index, answered)
    finished = sorted(answered, key=lambda i: answered[i].sent_s + answered[i].latency_ms / 1000)
    assert finished == [1, 3, 2, 0]
    # The reply to nobody is ignored; the request it came for is still waiting, until its timeout.
    assert run.stray_replies == 1
    assert run.records[4].outcome is Outcome.TIMEOUT
    assert max(r.lateness_ms for r in run.records) < 100


def test_busy_replies_count_as_busy_other_errors_as_errors_and_expired_deadlines_as_timeouts(
        scripted_server) -> None:
    script = itertools.cycle([_ok, _error(ErrorCode.BUSY), _error(ErrorCode.INTERNAL),
                              _error(ErrorCode.DEADLINE_EXCEEDED)])
    server = scripted_server(lambda request: next(script)(request))
    run = run_zmq(server.address, [JPEG], [i * 0.005 for i in range(12)], timeout_s=1.0)
    counts = {outcome: sum(r.outcome is outcome for r in run.records) for outcome in Outcome}
    assert counts == {Outcome.ANSWERED: 3, Outcome.BUSY: 3, Outcome.ERROR: 3, Outcome.TIMEOUT: 3}
    result = summarize(run, offered_rate=200.0, duration_s=0.06)
    assert (result.busy_share, result.timeout_share) == (0.25, 0.25)
    assert result.error_kinds == {"internal": 3}
    assert result.busy_p99_ms is not None and result.busy_p99_ms < 200


def test_a_server_that_never_answers_gives_timeouts_and_the_run_ends_after_the_timeout(
        silent_server) -> None:
    schedule = [0.0, 0.05, 0.1, 0.15, 0.2]
    began = time.perf_counter()
    run = run_zmq(silent_server.address, [JPEG], schedule, timeout_s=0.5)
    elapsed = time.perf_counter() - began
    assert [r.outcome for r in run.records] == [Outcome.TIMEOUT] * 5
    assert 0.2 + 0.5 <= elapsed < 0.2 + 0.5 + 0.3
    assert len(silent_server.received) == 5
    result = summarize(run, offered_rate=25.0, duration_s=0.25)
    assert (result.timeouts, result.answered, result.goodput, result.p99_ms) == (5, 0, 0.0, None)


# Through the web app over HTTP ------------------------------------------------------------------

def test_the_web_app_path_counts_503_as_busy(scripted_server, make_app, serve_http) -> None:
    script = itertools.cycle([_ok, _error(ErrorCode.BUSY)])
    model = scripted_server(lambda request: next(script)(request))
    url = serve_http(make_app(model.address)) + "/api/predict"
    run = run_http(url, [JPEG], [i * 0.02 for i in range(8)], timeout_s=5.0, senders=1)
    assert [r.outcome for r in run.records] == [Outcome.ANSWERED, Outcome.BUSY] * 4
    assert {r.detail for r in run.records if r.outcome is Outcome.BUSY} == {"503"}


def test_a_web_app_that_does_not_answer_in_time_gives_timeouts_bounded_by_the_timeout(
        silent_server, make_app, serve_http) -> None:
    url = serve_http(make_app(silent_server.address, MODEL_SERVER_TIMEOUT=2.0)) + "/api/predict"
    began = time.perf_counter()
    run = run_http(url, [JPEG], [0.0, 0.05, 0.1], timeout_s=0.5)
    assert time.perf_counter() - began < 0.1 + 0.5 + 0.4
    assert [r.outcome for r in run.records] == [Outcome.TIMEOUT] * 3


def test_a_generator_short_of_senders_shows_as_lateness_not_as_a_slow_server(
        delayed_server, make_app, serve_http) -> None:
    url = serve_http(make_app(delayed_server.address)) + "/api/predict"
    schedule = [i * 0.01 for i in range(5)]
    images = [JPEG]  # the fake reads no delay from a JPEG: it answers after 0.05 s
    enough = summarize(run_http(url, images, schedule, timeout_s=5.0), 100.0, 0.05)
    starved = summarize(run_http(url, images, schedule, timeout_s=5.0, senders=1), 100.0, 0.05)
    assert enough.answered == starved.answered == 5
    assert enough.lateness_max_ms < 100
    # One sender: each request waits for the one before (~60 ms each), but latency stays the same.
    assert starved.lateness_max_ms > 150
    assert starved.p50_ms < enough.p50_ms + 50


def test_sender_threads_share_keep_alive_connections_so_idle_ones_do_not_pile_up() -> None:
    """Past waitress's connection limit (100) new connections wait in its accept queue: a
    connection kept open per sender thread made seconds of latency out of nothing. Served by
    waitress, which keeps connections alive (Werkzeug's server closes each one)."""
    from flask import Flask, jsonify, request
    from waitress.server import create_server

    ports: set[int] = set()
    app = Flask(__name__)

    @app.post("/api/predict")
    def predict():
        ports.add(int(request.environ["REMOTE_PORT"]))
        return jsonify(predictions=[])

    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    serving = threading.Thread(target=server.run, name="keep-alive-waitress", daemon=True)
    serving.start()
    try:
        url = f"http://127.0.0.1:{server.effective_port}/api/predict"
        run = run_http(url, [JPEG], [i * 0.02 for i in range(30)], timeout_s=5.0, senders=30)
    finally:
        server.close()  # its loop ends once the generator's connections are closed too
        server.task_dispatcher.shutdown()
        serving.join(5)
    assert not serving.is_alive()
    assert [r.outcome for r in run.records] == [Outcome.ANSWERED] * 30
    # A connection per sender would be up to 30; a shared pool opens one more only when all it
    # has are busy. Requests 20 ms apart overlap when the machine is slow: count how many did.
    overlapping = most_at_once([(r.sent_s, r.sent_s + r.latency_ms / 1000.0) for r in run.records])
    assert len(ports) <= overlapping < 30, \
        f"{len(ports)} connections for 30 requests, at most {overlapping} of them in flight at once"


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The most of ``intervals`` (start, end) that overlap at one moment."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    return max(itertools.accumulate(step for _, step in edges))


# Summing up -------------------------------------------------------------------------------------

def test_goodput_counts_answers_per_second_over_the_schedule_or_up_to_the_last_answer() -> None:
    records = [
        RequestRecord(0, 0.0, 0.001, Outcome.ANSWERED, 100.0),
        RequestRecord(1, 0.5, 0.502, Outcome.BUSY, 1.0, "busy"),
        RequestRecord(2, 1.0, 1.010, Outcome.ANSWERED, 990.0),
        RequestRecord(3, 1.5, 1.500, Outcome.TIMEOUT),
    ]
    result = summarize(OpenLoopRun(records), offered_rate=2.0, duration_s=1.6)
    assert result.goodput == 1.0  # 2 answers, the last at 2.0 s, after the schedule's 1.6 s
    assert summarize(OpenLoopRun(records), offered_rate=2.0, duration_s=4.0).goodput == 0.5
    assert result.sent_rate == 2.5
    assert (result.sent, result.answered, result.busy, result.timeouts) == (4, 2, 1, 1)
    assert (result.busy_share, result.timeout_share) == (0.25, 0.25)
    assert result.lateness_max_ms == 10.0
    assert result.p50_ms == 545.0


# The report, and its place in the benchmark's results --------------------------------------------

def _rate(factor: float, goodput: float, p99: float, timeouts: int = 0, busy: int = 0,
          capacity: float = 10.0) -> dict:
    return {"factor": factor, "offered_rate": 10.0 * factor, "sent_rate": 10.0 * factor, "sent": 100,
            "answered": 100 - busy - timeouts, "busy": busy, "errors": 0, "timeouts": timeouts,
            "goodput": goodput, "p50_ms": p99 / 2, "p99_ms": p99, "busy_share": busy / 100,
            "timeout_share": timeouts / 100, "error_share": 0.0, "busy_p99_ms": 2.0 if busy else None,
            "lateness_p50_ms": 0.1, "lateness_p99_ms": 1.0, "lateness_max_ms": 2.0,
            "stray_replies": 0, "error_kinds": {}, "server_queue_peak": 64,
            "capacity_before": capacity, "one_client_before_ms": 100.0}


def _section() -> dict:
    """Capacity 10/s, one client 100 ms, max_queue 64 + a batch of 8: the bound at 2× is 7200 ms."""
    settings = {"runtime": "tensorflow", "precision": "f32", "workers": 8, "max_batch": 8,
                "max_queue": 64, "seconds_per_rate": 8.0, "timeout_s": 10.0, "capacity_clients": 8,
                "factors": [0.25, 0.5, 2.0]}

    def path(rates: list[dict]) -> dict:
        return {"one_client": {"median_ms": 100.0}, "capacity": {"throughput": 10.0}, "rates": rates}

    return {"date": "2026-12-02 01:00", "settings": settings, "paths": {
        "client": path([_rate(0.25, 2.5, 250.0), _rate(0.5, 5.0, 290.0),
                        _rate(2.0, 9.5, 7000.0, busy=40)]),
        # One capacity measurement far off (30/s) does not move the path's capacity (the median).
        "web app (waitress)": path([_rate(0.25, 2.5, 250.0), _rate(0.5, 5.0, 350.0, capacity=30.0),
                                    _rate(2.0, 8.0, 9000.0, timeouts=30)]),
    }}


def test_each_target_is_judged_against_the_median_of_its_paths_references() -> None:
    from benchmarks.report.open_loop import ratios, targets

    met = {(t.path, t.name): t.met for t in targets(_section())}
    assert met == {
        ("client", "goodput at 2× capacity"): True,
        ("client", "timeouts at 2× capacity"): True,
        ("client", "p99 at 2× capacity"): True,
        ("client", "p99 below capacity ÷ one-client latency"): True,
        ("web app (waitress)", "goodput at 2× capacity"): False,
        ("web app (waitress)", "timeouts at 2× capacity"): False,
        ("web app (waitress)", "p99 at 2× capacity"): False,
        ("web app (waitress)", "p99 below capacity ÷ one-client latency"): False,
    }
    assert ratios(_section())["open_loop_client_p99_at_2x_vs_queue_bound"] == round(7000 / 7200, 3)
    assert ratios(_section())["open_loop_web_p99_below_capacity_vs_one_client"] == 3.5
    drifted = _section()
    for rate in drifted["paths"]["client"]["rates"]:
        rate["capacity_before"] = 11.0
    assert ratios(drifted)["open_loop_client_goodput_at_2x_vs_capacity"] == round(9.5 / 11.0, 3)
    assert not next(t.met for t in targets(drifted) if t.name == "goodput at 2× capacity")


def test_an_ideal_batching_server_queues_more_the_closer_it_runs_to_its_capacity() -> None:
    from benchmarks.report.open_loop import ideal_batching_p99

    # One image in 60 ms; 8 in 8 / 18 s (this CPU: batching saves little) or in 120 ms (a GPU's).
    cpu = [ideal_batching_p99(u, 60.0, 18.0, 8) for u in (0.01, 0.25, 0.5, 0.75)]
    gpu = [ideal_batching_p99(u, 60.0, 8 / 0.12, 8) for u in (0.01, 0.25, 0.5, 0.75)]
    assert 0.99 < cpu[0] < 2.0 and 0.99 < gpu[0] < 2.0  # alone, a request takes one forward pass
    assert cpu == sorted(cpu) and gpu == sorted(gpu)
    assert cpu[2] > 3.0  # at half its capacity, p99 is already beyond 3× one image
    assert all(g < c for g, c in zip(gpu[1:], cpu[1:]))


def test_the_open_loop_alone_is_stored_beside_the_other_results(tmp_path, monkeypatch) -> None:
    import json
    from pathlib import Path

    import benchmarks.__main__ as command
    from benchmarks.report.files import RESULTS_DIR
    from benchmarks.sections import open_loop

    committed = Path(RESULTS_DIR, "results.json").read_text()
    (tmp_path / "results.json").write_text(committed)
    monkeypatch.setattr(open_loop, "measure", lambda **options: {**_section(), "options": options})
    assert command.main(["--only", "open loop", "--open-loop-seconds", "2", "--out", str(tmp_path)]) == 0
    stored = json.loads((tmp_path / "results.json").read_text())
    before = json.loads(committed)
    def others(results: dict) -> dict:
        return {k: v for k, v in results.items() if k not in ("open_loop", "ratios")}

    assert others(stored) == others(before) and others(before)["systems"]
    assert stored["open_loop"]["options"]["seconds"] == 2.0
    assert stored["ratios"]["open_loop_client_goodput_at_2x_vs_capacity"] == 0.95
    assert "| 2× | 20.0 |" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "open_loop.png").stat().st_size > 10_000


def test_the_open_loop_alone_into_an_empty_folder_writes_its_own_table_and_plot(tmp_path, monkeypatch) -> None:
    import json

    import benchmarks.__main__ as command
    from benchmarks.sections import open_loop

    monkeypatch.setattr(open_loop, "measure", lambda **options: _section())
    assert command.main(["--only", "open loop", "--out", str(tmp_path)]) == 0
    assert set(json.loads((tmp_path / "results.json").read_text())) == {"open_loop"}
    assert "| 2× | 20.0 |" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "open_loop.png").stat().st_size > 10_000


def test_the_lab_s_waitress_has_more_threads_than_the_model_server_holds_requests():
    """Else the excess waits unanswered in waitress's unbounded queue, and the server's ``busy``
    never reaches a user as 503 (measured: "Open loop" in docs/benchmark.md)."""
    from harness.launch import WAITRESS_THREADS
    from model_server.serving.settings import ServerSettings

    defaults = ServerSettings()
    assert WAITRESS_THREADS > defaults.workers + defaults.max_queue
