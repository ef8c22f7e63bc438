"""The figures the performance targets are stated in, from a run's results: each ratio computed
within a round, and the median over rounds with its min–max."""

from __future__ import annotations

from benchmarks.report import open_loop as open_loop_report
from benchmarks.rounds.interleaved import ratios_over_rounds
from benchmarks.systems.catalogue import (
    BASE64_JSON,
    MONOLITH,
    ONE_WORKER,
    ORIGINAL,
    OURS,
    PIXELS,
    RAY_SERVE,
    WAITRESS,
    openvino_system,
)
from harness.bare import bare_name
from model_server.protocol import OPENVINO, PRECISIONS, TENSORFLOW


def round_view(record: dict) -> dict:
    """One round's record in the shape ``round_ratios`` reads: its bare limits and its systems."""
    view = {"systems": record["systems"], "bare_openvino": {}}
    if bare_name(TENSORFLOW, "f32") in record["bare"]:
        view["bare"] = record["bare"][bare_name(TENSORFLOW, "f32")]
    for precision in PRECISIONS:
        if bare_name(OPENVINO, precision) in record["bare"]:
            view["bare_openvino"][precision] = record["bare"][bare_name(OPENVINO, precision)]
    return view


def system_row(results: dict, system: str, concurrency: int) -> dict | None:
    rows = results["systems"].get(system, {})
    return rows.get(concurrency, rows.get(str(concurrency)))  # str keys once read back from JSON


def ratios(results: dict) -> dict:
    """The figures the performance targets are stated in; missing rows are left out.

    With ``rounds`` (an interleaved run), each figure that compares rows is computed within each
    round and is the median over rounds; ``results["ratio_spread"]`` gets its min–max.
    """
    if "rounds" in results:
        spread = ratios_over_rounds(results["rounds"], lambda record: round_ratios(round_view(record)))
        results["ratio_spread"] = spread
        out = {key: figures["median"] for key, figures in spread.items()}
    else:
        out = round_ratios(results)
    paired = results.get("overhead")
    if paired:
        out["paired_client_minus_bare_ms_at_1"] = paired["client_minus_bare_ms"]["median"]
        out["paired_web_waitress_minus_bare_ms_at_1"] = paired["web_minus_bare_ms"]["median"]
        if "web_raw_body_minus_bare_ms" in paired:  # absent from runs before the raw body existed
            out["paired_web_waitress_raw_body_minus_bare_ms_at_1"] = (
                paired["web_raw_body_minus_bare_ms"]["median"])
    for name, seconds in results.get("start_to_ready", {}).items():
        out[f"start_to_ready_s: {name}"] = seconds
    broker = results.get("broker")
    if broker:
        header = list(broker["header"].values())
        out["broker_header_ms_big_minus_small"] = round(header[-1]["read_header_ms"] - header[0]["read_header_ms"], 4)
        for streamed, probes in broker.items():
            if streamed != "header" and "predict 640x480" in probes:
                out[f"broker_small_p99_ratio: {streamed}"] = probes["predict 640x480"]["p99 ratio"]
    if "open_loop" in results:
        out.update(open_loop_report.ratios(results["open_loop"]))
    return out


def round_ratios(results: dict) -> dict:
    """The figures that compare rows of one round (or of one block run)."""
    bare = results.get("bare")
    out: dict[str, float] = {}
    ours_1, ours_8 = system_row(results, OURS, 1), system_row(results, OURS, 8)
    if bare and ours_1:
        out["client_overhead_ms_at_1"] = round(ours_1["median_ms"] - bare["latency_ms"], 2)
        if "decode_ms" in bare:
            out["client_overhead_beyond_decode_ms_at_1"] = round(
                ours_1["median_ms"] - bare["latency_ms"] - bare["decode_ms"], 2)
    pixels_1, pixels_8 = system_row(results, OURS + PIXELS, 1), system_row(results, OURS + PIXELS, 8)
    if bare and pixels_1:
        out["client_pixels_overhead_ms_at_1"] = round(pixels_1["median_ms"] - bare["latency_ms"], 2)
    web_1 = system_row(results, WAITRESS, 1)
    if bare and web_1:
        out["web_waitress_overhead_ms_at_1"] = round(web_1["median_ms"] - bare["latency_ms"], 2)
    if bare and ours_8:
        out["ours_at_8_vs_bare_best"] = round(ours_8["throughput"] / bare["best_throughput"], 3)
    if bare and pixels_8:
        out["ours_pixels_at_8_vs_bare_best"] = round(pixels_8["throughput"] / bare["best_throughput"], 3)
    out.update(_vs_bare_batch_8(bare, {"ours": ours_8, "ours_pixels": pixels_8}))
    original_8, one_worker_8 = system_row(results, ORIGINAL, 8), system_row(results, ONE_WORKER, 8)
    if ours_8 and original_8:
        out["ours_at_8_vs_original_at_8"] = round(ours_8["throughput"] / original_8["throughput"], 2)
    if ours_8 and one_worker_8:
        out["ours_at_8_vs_one_worker_at_8"] = round(ours_8["throughput"] / one_worker_8["throughput"], 2)
    base64_1 = system_row(results, BASE64_JSON, 1)
    if base64_1 and ours_1:
        out["base64_json_minus_binary_frames_ms_at_1"] = round(base64_1["median_ms"] - ours_1["median_ms"], 2)
    monolith = system_row(results, MONOLITH, 1)
    if monolith and ours_1:
        out["monolith_vs_ours_at_1"] = round(monolith["median_ms"] / ours_1["median_ms"], 1)
    for clients in results["systems"].get(RAY_SERVE, {}):
        web, ray = system_row(results, WAITRESS, int(clients)), system_row(results, RAY_SERVE, int(clients))
        if web and ray:
            out[f"web_waitress_vs_ray_serve_at_{clients}"] = round(web["throughput"] / ray["throughput"], 2)
    out.update(openvino_ratios(results))
    return out


def _vs_bare_batch_8(bare: dict | None, rows: dict[str, dict | None]) -> dict[str, float]:
    """Each row at 8 clients against the bare model's batch of 8: the most that 8 clients, whose
    requests the server stacks into batches of up to 8, could reach (the bare best may be a batch
    of 16, which 8 clients never form)."""
    batch_8 = (bare or {}).get("batches", {}).get("8")
    if not batch_8:
        return {}
    return {f"{name}_at_8_vs_bare_batch_8": round(row["throughput"] / batch_8["throughput"], 3)
            for name, row in rows.items() if row}


def openvino_ratios(results: dict) -> dict:
    """The OpenVINO targets: each precision against its own bare limit."""
    out: dict[str, float] = {}
    monolith = system_row(results, MONOLITH, 1)
    for precision, bare in results.get("bare_openvino", {}).items():
        system = openvino_system(precision)
        for suffix, form in (("", ""), (PIXELS, "_pixels")):  # the file, then the pixels
            name = f"openvino_{precision}{form}"
            one, eight = system_row(results, system + suffix, 1), system_row(results, system + suffix, 8)
            if one:
                out[f"{name}_client_overhead_ms_at_1"] = round(one["median_ms"] - bare["latency_ms"], 2)
            if eight:
                out[f"{name}_at_8_vs_own_bare_best"] = round(eight["throughput"] / bare["best_throughput"], 3)
            out.update(_vs_bare_batch_8(bare, {name: eight}))
        at_1 = system_row(results, system, 1)
        if at_1 and monolith:
            out[f"monolith_vs_openvino_{precision}_at_1"] = round(monolith["median_ms"] / at_1["median_ms"], 1)
        ours_1 = system_row(results, OURS, 1)
        if at_1 and ours_1:
            out[f"tensorflow_vs_openvino_{precision}_median_at_1"] = round(
                ours_1["median_ms"] / at_1["median_ms"], 2)
    return out
