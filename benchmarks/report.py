"""Turning benchmark results into the ratios the targets name, a Markdown table and a plot."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import open_loop_report  # noqa: E402

OURS = "our server, client"
ORIGINAL = "original design (1 worker, no batching, base64 JSON)"
WAITRESS = "our server, web app (waitress)"


def openvino_system(precision: str) -> str:
    """The benchmark's name for our server through the client, on OpenVINO at ``precision``."""
    return f"{OURS}, OpenVINO {precision}"


def _row(results: dict, system: str, concurrency: int) -> dict | None:
    rows = results["systems"].get(system, {})
    return rows.get(concurrency, rows.get(str(concurrency)))  # str keys once read back from JSON


def ratios(results: dict) -> dict:
    """The figures the performance targets are stated in; missing rows are left out."""
    bare = results["bare"]
    out: dict[str, float] = {}
    ours_1, ours_8 = _row(results, OURS, 1), _row(results, OURS, 8)
    if ours_1:
        out["client_overhead_ms_at_1"] = round(ours_1["median_ms"] - bare["latency_ms"], 2)
    web_1 = _row(results, WAITRESS, 1)
    if web_1:
        out["web_waitress_overhead_ms_at_1"] = round(web_1["median_ms"] - bare["latency_ms"], 2)
    if ours_8:
        out["ours_at_8_vs_bare_best"] = round(ours_8["throughput"] / bare["best_throughput"], 3)
    original_8 = _row(results, ORIGINAL, 8)
    if ours_8 and original_8:
        out["ours_at_8_vs_original_at_8"] = round(ours_8["throughput"] / original_8["throughput"], 2)
    base64_1 = _row(results, "our server, client, base64 JSON", 1)
    if base64_1 and ours_1:
        out["base64_json_minus_binary_frames_ms_at_1"] = round(base64_1["median_ms"] - ours_1["median_ms"], 2)
    paired = results.get("overhead")
    if paired:
        out["paired_client_minus_bare_ms_at_1"] = paired["client_minus_bare_ms"]["median"]
        out["paired_web_waitress_minus_bare_ms_at_1"] = paired["web_minus_bare_ms"]["median"]
        if "web_raw_body_minus_bare_ms" in paired:  # absent from runs before the raw body existed
            out["paired_web_waitress_raw_body_minus_bare_ms_at_1"] = (
                paired["web_raw_body_minus_bare_ms"]["median"])
    monolith = _row(results, "monolith", 1)
    if monolith and ours_1:
        out["monolith_vs_ours_at_1"] = round(monolith["median_ms"] / ours_1["median_ms"], 1)
    out.update(openvino_ratios(results))
    if "open_loop" in results:
        out.update(open_loop_report.ratios(results["open_loop"]))
    return out


def openvino_ratios(results: dict) -> dict:
    """The OpenVINO targets: each precision against its own bare limit, and start to ready."""
    out: dict[str, float] = {}
    monolith = _row(results, "monolith", 1)
    for precision, bare in results.get("bare_openvino", {}).items():
        system = openvino_system(precision)
        at_1, at_8 = _row(results, system, 1), _row(results, system, 8)
        if at_1:
            out[f"openvino_{precision}_client_overhead_ms_at_1"] = round(
                at_1["median_ms"] - bare["latency_ms"], 2)
        if at_8:
            out[f"openvino_{precision}_at_8_vs_own_bare_best"] = round(
                at_8["throughput"] / bare["best_throughput"], 3)
        if at_1 and monolith:
            out[f"monolith_vs_openvino_{precision}_at_1"] = round(monolith["median_ms"] / at_1["median_ms"], 1)
        ours_1 = _row(results, OURS, 1)
        if at_1 and ours_1:
            out[f"tensorflow_vs_openvino_{precision}_median_at_1"] = round(
                ours_1["median_ms"] / at_1["median_ms"], 2)
    for name, seconds in results.get("start_to_ready", {}).items():
        out[f"start_to_ready_s: {name}"] = seconds
    return out


def table(results: dict) -> str:
    bare = results["bare"]
    lines = [
        f"Bare model: batch 1 in {bare['latency_ms']} ms; best throughput "
        f"{bare['best_throughput']} img/s at batch {bare['best_batch']}; "
        f"decoding one 640×480 JPEG {bare['decode_ms']} ms.",
        *(f"Bare model on OpenVINO {precision}: batch 1 in {limit['latency_ms']} ms; best throughput "
          f"{limit['best_throughput']} img/s at batch {limit['best_batch']}."
          for precision, limit in results.get("bare_openvino", {}).items()),
        "",
        "| system | clients | median ms | p95 ms | p99 ms | img/s (min–max) | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, rows in results["systems"].items():
        for concurrency, row in rows.items():
            lines.append(
                f"| {name} | {concurrency} | {row['median_ms']} | {row['p95_ms']} | {row['p99_ms']} "
                f"| {row['throughput']} ({row['throughput_min']}–{row['throughput_max']}) "
                f"| {row['errors']} |"
            )
    footprints = results.get("footprints", {})
    if footprints:
        lines += ["", "| system | process | start to ready (s) | memory (MiB) |",
                  "| --- | --- | ---: | ---: |"]
        for name, servers in footprints.items():
            for process, figures in servers.items():
                lines.append(f"| {name} | {process} | {figures['ready_s']} | {figures['memory_mb']} |")
    paired = results.get("overhead")
    if paired:
        lines += ["", f"One request at a time, {paired['rounds']} rounds in which the bare model, "
                  "the client and the web app (waitress; a multipart form, and the image as the body) take turns:", "",
                  "| milliseconds | median | quartiles |", "| --- | ---: | ---: |"]
        lines += [f"| {name} | {figures['median']} | {figures['q1']}–{figures['q3']} |"
                  for name, figures in paired.items() if isinstance(figures, dict)]
    if "open_loop" in results:
        lines += ["", open_loop_report.table(results["open_loop"]).rstrip("\n")]
    lines += ["", "| ratio | value |", "| --- | ---: |"]
    lines += [f"| {name} | {value} |" for name, value in results["ratios"].items()]
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    """Throughput against clients for every system, with the bare model's best as a line."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    for name, rows in results["systems"].items():
        if name == "monolith":
            continue
        levels = [int(c) for c in rows]
        left.errorbar(
            levels, [rows[c]["throughput"] for c in rows],
            yerr=[[rows[c]["throughput"] - rows[c]["throughput_min"] for c in rows],
                  [rows[c]["throughput_max"] - rows[c]["throughput"] for c in rows]],
            marker="o", capsize=3, label=name,
        )
    left.axhline(results["bare"]["best_throughput"], color="black", linestyle="--",
                 label=f"bare model, best batch ({results['bare']['best_batch']})")
    left.set(xlabel="concurrent clients", ylabel="images per second", title="Throughput")
    left.set_ylim(bottom=0)
    left.legend(fontsize=7, loc="lower right")

    names = [n for n in results["systems"] if _row(results, n, 1)]
    medians = [_row(results, n, 1)["median_ms"] for n in names]
    right.barh(names + ["bare model"], medians + [results["bare"]["latency_ms"]])
    right.set_xscale("log")
    right.set(xlabel="median latency, one client (ms, log scale)", title="Latency of one request")
    right.tick_params(axis="y", labelsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
