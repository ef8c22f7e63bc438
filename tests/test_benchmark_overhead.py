"""The paired overhead measurement: differences per round, a real probe process, real servers."""

from __future__ import annotations

import os

import psutil
import pytest

from benchmarks.report.ratios import ratios
from benchmarks.report.tables import table
from benchmarks.rounds.turns import in_turn
from benchmarks.sections.overhead import Round, measure_rounds, summarize
from harness.bare import BareModelProcess
from harness.launch import start_web_app
from harness.sample_images import photo_jpegs
from model_server.client import ModelClient


def _round(bare: float, client: float, web: float = 0.0) -> Round:
    return Round(bare=bare, client=client, web=web, web_raw=web - 2.0, server_total=client - 1.0,
                 server_inference=bare, server_decode=2.0, server_queue=0.1)


def test_each_system_goes_first_once_every_len_rounds_keeping_their_order() -> None:
    orders = [in_turn(["bare", "client", "web", "web_raw"], index) for index in range(8)]
    assert [order[0] for order in orders] == ["bare", "client", "web", "web_raw"] * 2
    assert orders[1] == ["client", "web", "web_raw", "bare"]


def test_the_overhead_is_the_median_of_differences_within_rounds_not_of_medians() -> None:
    # Medians taken separately would say 27.5 - 25 = 2 ms; the rounds themselves say -7 ms.
    rounds = [_round(10.0, 31.0), _round(20.0, 12.0), _round(30.0, 23.0), _round(40.0, 33.0)]
    summary = summarize(rounds)
    assert summary["client_minus_bare_ms"]["median"] == -7.0
    assert summary["client_ms"]["median"] - summary["bare_ms"]["median"] == 2.0
    assert summary["wire_and_client_ms"]["median"] == 1.0
    assert summary["rounds"] == 4 and len(summary["every_round"]) == 4


def test_the_report_states_the_paired_overhead_next_to_the_block_figures() -> None:
    results = {
        "bare": {"latency_ms": 80.0, "best_throughput": 12.0, "best_batch": 8, "decode_ms": 2.5},
        "systems": {},
        "overhead": summarize([_round(80.0 + i, 84.0 + i, 90.0 + i) for i in range(8)]),
    }
    results["ratios"] = ratios(results)
    assert results["ratios"]["paired_client_minus_bare_ms_at_1"] == 4.0
    assert results["ratios"]["paired_web_waitress_minus_bare_ms_at_1"] == 10.0
    assert results["ratios"]["paired_web_waitress_raw_body_minus_bare_ms_at_1"] == 8.0
    assert "| client_minus_bare_ms | 4.0 |" in table(results)


@pytest.fixture(scope="module")
def probe():
    """One bare-model process for the module (it loads ResNet50: seconds); once stopped, it must
    be gone, not left running or orphaned."""
    with BareModelProcess() as probe:
        yield probe
    assert not psutil.pid_exists(probe.pid) or psutil.Process(probe.pid).status() == psutil.STATUS_ZOMBIE


def test_the_probe_times_forward_passes_in_its_own_process(probe) -> None:
    passes = [probe.forward_ms() for _ in range(3)]
    limits = probe.limits([1, 4], repeats=4)
    assert probe.pid != os.getpid() and psutil.Process(probe.pid).is_running()
    assert all(ms > 1.0 for ms in passes)
    assert sorted(limits["batches"]) == ["1", "4"]
    assert limits["best_batch"] in (1, 4)
    assert limits["best_throughput"] == max(b["throughput"] for b in limits["batches"].values())
    assert limits["latency_ms"] == limits["batches"]["1"]["ms_per_batch"] and limits["decode_ms"] > 0


@pytest.mark.timeout(240)
def test_rounds_time_the_same_images_through_the_client_and_the_web_app(model_server, probe) -> None:
    images = photo_jpegs(2)
    with start_web_app(model_server.address, name="overhead-web") as web, \
            ModelClient(model_server.address, timeout=30.0, retries=0) as client:
        rounds = measure_rounds(probe, client, f"{web.address}/api/predict", images, rounds=4)
    assert len(rounds) == 4
    for measured in rounds:
        assert measured.client > measured.server_total > measured.server_inference > 0
        assert measured.web > 0 and measured.web_raw > 0
        assert measured.bare > 0 and measured.server_decode > 0
