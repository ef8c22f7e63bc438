"""The interleaved benchmark's rounds: what runs when, and ratios taken within rounds, not across."""

from __future__ import annotations

from benchmarks.report.ratios import ratios
from benchmarks.report.tables import table
from benchmarks.rounds.interleaved import Entry, bare_limits, ratios_over_rounds, run_rounds, system_rows
from benchmarks.systems.catalogue import ONE_WORKER, ORIGINAL, OURS
from harness.bare import bare_name

BARE = bare_name("tensorflow", "f32")


def _burst(throughput: float, median_ms: float = 100.0) -> dict:
    return {"concurrency": 1, "requests": 8, "errors": 0, "seconds": 1.0, "median_ms": median_ms,
            "p95_ms": median_ms, "p99_ms": median_ms, "throughput": throughput}


def test_each_round_runs_every_entry_fewest_clients_first_in_an_order_that_rotates():
    ran: list[tuple[str, int]] = []

    def entry(name: str, clients: int) -> Entry:
        def run() -> dict:
            ran.append((name, clients))
            return _burst(1.0)
        return Entry(name, clients, run)

    entries = [entry("b", 8), entry("a", 1), entry("b", 1), entry("c", 1), entry("a", 8)]
    records = run_rounds(entries, rounds=3)
    assert [record["order"] for record in records] == [
        [["a", 1], ["b", 1], ["c", 1], ["b", 8], ["a", 8]],
        [["b", 1], ["c", 1], ["a", 1], ["a", 8], ["b", 8]],
        [["c", 1], ["a", 1], ["b", 1], ["b", 8], ["a", 8]],
    ]
    assert ran == [tuple(step) for record in records for step in record["order"]]
    assert sorted(records[0]["systems"]["a"]) == ["1", "8"]


def test_a_bare_model_measured_twice_in_a_round_keeps_both_measurements():
    entries = [
        Entry(BARE, 1, lambda: {"latency_ms": 60.0, "decode_ms": 3.0, "best_batch": 1,
                                "best_throughput": 16.7, "batches": {1: {"ms_per_batch": 60.0}}}, bare=True),
        Entry(BARE, 8, lambda: {"best_batch": 8, "best_throughput": 20.0, "decode_ms": 3.2,
                                "batches": {8: {"ms_per_batch": 400.0}}}, bare=True),
    ]
    (record,) = run_rounds(entries, rounds=1)
    bare = record["bare"][BARE]
    assert (bare["latency_ms"], bare["best_throughput"], bare["best_batch"]) == (60.0, 20.0, 8)
    assert sorted(bare["batches"]) == ["1", "8"]
    assert record["systems"] == {}


def _records(rounds: list[tuple[float, float, float]]) -> list[dict]:
    """Rounds of (bare latency ms, bare best img/s, our server's img/s at 8 clients)."""
    return [{"round": index, "order": [],
             "bare": {BARE: {"latency_ms": latency, "best_throughput": best, "best_batch": 8, "decode_ms": 3.0}},
             "systems": {OURS: {"1": _burst(8.0, latency + 5.0), "8": _burst(ours)}}}
            for index, (latency, best, ours) in enumerate(rounds)]


def test_a_ratio_is_the_median_of_its_per_round_ratios_with_their_min_and_max():
    # The machine halves its speed in the middle round: both the bare model and the server slow.
    # Per round, the server reaches 0.95, 0.9 and 1.0 of the bare best: median 0.95. Medians
    # taken separately (18 ÷ 20) would say 0.9, and with one round slow for one side only, anything.
    records = _records([(60.0, 20.0, 19.0), (120.0, 10.0, 9.0), (62.0, 19.0, 19.0)])
    spread = ratios_over_rounds(records, lambda record: {
        "at_8": record["systems"][OURS]["8"]["throughput"] / record["bare"][BARE]["best_throughput"]})
    assert spread["at_8"] == {"median": 0.95, "min": 0.9, "max": 1.0, "rounds": 3}


def test_the_report_takes_its_ratios_from_the_rounds_and_shows_their_spread():
    results = {"rounds": _records([(60.0, 20.0, 19.0), (120.0, 10.0, 9.0), (62.0, 19.0, 19.0)])}
    results["systems"] = system_rows(results["rounds"])
    results["bare"] = bare_limits(results["rounds"], BARE)
    results["ratios"] = ratios(results)
    assert results["ratios"]["ours_at_8_vs_bare_best"] == 0.95
    assert results["ratio_spread"]["ours_at_8_vs_bare_best"]["min"] == 0.9
    assert results["ratios"]["client_overhead_ms_at_1"] == 5.0
    assert results["ratios"]["client_overhead_beyond_decode_ms_at_1"] == 2.0
    assert "| ours_at_8_vs_bare_best | 0.95 | 0.9–1.0 (3) |" in table(results)
    assert results["systems"][OURS]["8"]["throughput"] == 19.0
    at_8 = results["systems"][OURS]["8"]
    assert (at_8["throughput_min"], at_8["throughput_max"]) == (9.0, 19.0)
    assert results["bare"]["latency_ms"] == 62.0
    assert (results["bare"]["latency_ms_min"], results["bare"]["latency_ms_max"]) == (60.0, 120.0)


def test_ours_is_compared_within_each_round_with_the_original_design_and_with_one_worker():
    records = _records([(60.0, 20.0, 19.0), (120.0, 10.0, 9.0), (62.0, 19.0, 19.0)])
    for record, (original, one_worker) in zip(records, ((10.0, 12.5), (6.0, 6.0), (9.5, 19.0))):
        record["systems"][ORIGINAL] = {"8": _burst(original)}
        record["systems"][ONE_WORKER] = {"8": _burst(one_worker)}
    results = {"rounds": records}
    results["systems"] = system_rows(records)
    results["bare"] = bare_limits(records, BARE)
    results["ratios"] = ratios(results)
    # Per round 1.9, 1.5 and 2.0 against the original design; 1.52, 1.5 and 1.0 against one worker.
    assert results["ratios"]["ours_at_8_vs_original_at_8"] == 1.9
    assert results["ratios"]["ours_at_8_vs_one_worker_at_8"] == 1.5
    assert ORIGINAL != ONE_WORKER and "thread per request" in ORIGINAL


def test_the_bare_best_batch_is_the_one_best_most_often():
    records = [{"bare": {BARE: {"best_throughput": t, "best_batch": b}}} for t, b in
               ((20.0, 8), (21.0, 16), (19.0, 8))]
    assert bare_limits(records, BARE)["best_batch"] == 8


def test_the_broker_section_gives_the_header_difference_and_each_stream_s_p99_ratio():
    probe = {"alone": {"p50_ms": 40.0, "p99_ms": 50.0},
             "while another client streams": {"p50_ms": 80.0, "p99_ms": 100.0}, "p99 ratio": 2.0}
    results = {"rounds": _records([(60.0, 20.0, 19.0)]), "broker": {
        "header": {"small": {"frame_bytes": 10, "read_header_ms": 0.004, "whole_json_loads_ms": 0.04},
                   "big": {"frame_bytes": 10**6, "read_header_ms": 0.064, "whole_json_loads_ms": 2.5}},
        "4 MB": {"streamed requests answered": 9, "predict 640x480": probe, "stats": probe}}}
    results["systems"] = system_rows(results["rounds"])
    results["bare"] = bare_limits(results["rounds"], BARE)
    results["ratios"] = ratios(results)
    assert results["ratios"]["broker_header_ms_big_minus_small"] == 0.06
    assert results["ratios"]["broker_small_p99_ratio: 4 MB"] == 2.0
    assert "| 4 MB | stats | 40.0 | 50.0 | 80.0 | 100.0 | 2.0 |" in table(results)
