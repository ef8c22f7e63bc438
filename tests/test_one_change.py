"""Notebook 08's one-change-at-a-time experiments: per-request spans, the timeline, the predictions."""

from __future__ import annotations

import dataclasses
import itertools
import statistics

import pytest

from fakes import REPLY
from harness.load import LoadResult, sleeping_send
from harness.sample_images import photo_jpegs
from harness.stats import MeasurementFailed
from lab.learner import guesses
from lab.nb08_going_further import load_levels, one_change
from lab.show import plots
from model_server.protocol import Timings
from solutions.nb08_load import closed_loop


def _span(client: int, sent: float, replied: float, total_ms: float = 52.5, batch: int = 1):
    reply = dataclasses.replace(REPLY, timings=Timings(2.0, 0.5, 50.0, total_ms), batch=batch)
    return load_levels.RequestSpan(client, sent, replied, reply)


def test_a_span_splits_into_waiting_in_the_worker_and_the_forward_pass() -> None:
    span = _span(1, 0.1, 0.3)
    assert span.seconds == pytest.approx(0.2)
    assert span.forward_pass_s == pytest.approx(0.0505)
    assert span.in_worker_s == pytest.approx(0.0525)
    assert span.waiting_for_worker_s == pytest.approx(0.2 - 0.0525)


def test_a_span_shorter_than_the_server_says_is_all_worker_time() -> None:
    span = _span(0, 0.0, 0.04)
    assert span.in_worker_s == span.forward_pass_s == pytest.approx(0.04)
    assert span.waiting_for_worker_s == 0


def test_spans_start_at_the_first_send_and_go_client_by_client() -> None:
    spans = load_levels.spans_of([(1, 10.5, 10.7, REPLY), (0, 10.2, 10.4, REPLY), (0, 10.4, 10.6, REPLY)])
    assert [(s.client, round(s.sent_s, 6)) for s in spans] == [(0, 0.0), (0, 0.2), (1, 0.3)]
    assert load_levels.spans_of([]) == []


def test_every_timed_request_under_load_gets_a_span_from_its_own_client(model_server) -> None:
    (level,) = load_levels.under_load("ours", model_server.address, photo_jpegs(2), levels=(2,), requests=6)
    assert len(level.spans) == 6
    assert sorted({span.client for span in level.spans}) == [0, 1]
    assert all(0 <= span.sent_s < span.replied_s <= level.result.seconds + 0.1 for span in level.spans)
    for client in (0, 1):
        mine = [span for span in level.spans if span.client == client]
        assert all(a.replied_s <= b.sent_s for a, b in itertools.pairwise(mine)), "a client sends after its reply"


def test_with_one_worker_the_second_client_waits_behind_the_first() -> None:
    level = one_change.measure(one_change.ONE_WORKER, "random", photo_jpegs(2), clients=2, requests=6)
    assert set(level.batches) == {1}
    # One forward pass at a time: end to end, the passes fit between the first request sent and
    # the last reply read. Placing each pass by when its client read the reply would not do: on a
    # busy machine a client thread may read it tens of milliseconds late, and two passes that ran
    # one after the other seem to overlap.
    elapsed = max(span.replied_s for span in level.spans) - min(span.sent_s for span in level.spans)
    passes = [span.forward_pass_s for span in level.spans]
    assert sum(passes) <= elapsed, (passes, elapsed)
    # Each client's request comes while the worker is busy with the other's, so the typical request
    # waits outside the worker for about one pass (with two workers it waits hardly at all). Both
    # are this run's own times, which a busy machine stretches alike.
    waits = [span.waiting_for_worker_s for span in level.spans]
    assert statistics.median(waits) > statistics.median(passes) / 2, (waits, passes)


def _level(server: str, spans: list[load_levels.RequestSpan], throughput: float) -> load_levels.LoadLevel:
    result = LoadResult(2, len(spans), 0, 1.0, 100.0, 150.0, 150.0, throughput)
    batches = {}
    for span in spans:
        batches[span.reply.batch] = batches.get(span.reply.batch, 0) + 1
    return load_levels.LoadLevel(server, result, batches, {"host:1": len(spans)}, spans)


def test_the_timeline_draws_one_row_per_client_and_labels_shared_batches() -> None:
    one = _level("1 worker", [_span(0, 0.0, 0.06), _span(1, 0.0, 0.12), _span(0, 0.06, 0.18)], 16.0)
    shared = _level("batching", [_span(0, 0.0, 0.06, batch=2), _span(1, 0.0, 0.06, batch=2)], 33.0)
    figure = plots.plot_timeline([one, shared])
    top, bottom = figure.axes
    assert [label.get_text() for label in top.get_yticklabels()] == ["client 1", "client 2"]
    assert len(top.patches) == 3 * 3
    assert [text.get_text() for text in bottom.texts] == ["×2", "×2"] and not top.texts


def test_step_rows_say_what_each_change_did() -> None:
    levels = [_level(s.name, [_span(0, 0.0, 0.1)], t) for s, t in zip(one_change.STEPS, (10.0, 11.0, 16.5))]
    rows = one_change.step_rows(levels)
    assert [row["what changed"] for row in rows] == [s.change for s in one_change.STEPS]
    assert [row["× the step before"] for row in rows] == ["", 1.1, 1.5]


def test_each_step_changes_one_flag() -> None:
    for before, after in zip(one_change.STEPS, one_change.STEPS[1:]):
        changed = [f for f in ("workers", "max_batch") if getattr(before, f) != getattr(after, f)]
        assert len(changed) == 1, (before, after)
    assert one_change.ONE_WORKER.extra_args() == ("--max-batch", "1")


@pytest.mark.parametrize(("written", "says"), [
    (None, "you did not predict"),
    ("", "you did not predict"),
    (12, "you predicted 12 images/s: the measurement is 0.5× your guess"),
    ("about 12", "you predicted 12 images/s"),
    ("fast", "'fast' is not one number"),
    ("10 or 20", "is not one number"),
    (True, "is not one number"),
    (float("nan"), "is not one number"),
    (0, "you predicted 0 images/s."),
])
def test_a_prediction_is_shown_beside_the_measurement_whatever_was_written(written, says) -> None:
    sentence = guesses.beside(written, 6.0, "images/s")
    assert sentence.startswith("Measured 6 images/s") and says in sentence


def test_a_prediction_in_a_table_is_the_number_or_what_was_written() -> None:
    assert [guesses.column(w) for w in (None, 7, "7.5 ms", "no idea")] == [
        "you did not predict", "7", "7.5", "no idea"]


def test_the_learners_generator_makes_the_load_and_every_reply_is_kept(model_server) -> None:
    calls: list[tuple[int, int]] = []

    def generator(send, clients, requests):
        calls.append((clients, requests))
        return closed_loop(send, clients, requests)

    (level,) = load_levels.under_load("ours", model_server.address, photo_jpegs(2), levels=(2,),
                                      requests=7, closed_loop=generator)
    assert calls == [(2, 2), (2, 6)], "a warm-up request per client, then the timed ones, rounded to the clients"
    assert level.run is not None and level.run.requests == level.result.requests == 6
    assert sum(level.batches.values()) == 6 and len(level.spans) == 6, "warm-ups counted or replies lost"
    assert sorted({span.client for span in level.spans}) == [0, 1]
    assert level.result.median_ms == pytest.approx(statistics.median(level.run.latencies_s) * 1000, abs=0.01)
    assert 0.8 < level.run.throughput * level.run.mean_latency_s <= 2.0, "Little's law: about 2 in flight"


def test_a_generator_that_hides_nothing_turns_a_failed_request_into_a_failed_measurement(dead_address) -> None:
    with pytest.raises(MeasurementFailed, match="nobody, 1 clients"):
        load_levels.under_load("nobody", dead_address, photo_jpegs(1), levels=(1,), requests=2,
                               timeout=1.0, closed_loop=closed_loop)


def test_a_sleeping_send_answers_after_its_time_whatever_else_is_in_flight() -> None:
    run = closed_loop(sleeping_send(0.05), 4, 8)
    assert run.requests == 8 and min(run.latencies_s) >= 0.05
    assert run.wall_s < 0.05 * 8 / 2, "four at once: two rounds, not eight"
