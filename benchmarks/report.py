"""Turning benchmark results into the ratios the targets name, a Markdown table and a plot."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from harness.bare import bare_name
from model_server.protocol import OPENVINO, PRECISIONS, TENSORFLOW

from . import open_loop_report
from .interleaved import ratios_over_rounds

OURS = "our server, client"
#: The original write-up's design: its server (a thread per request, as ``solutions/resnet_model_server.py``
#: writes it) asked by its client (a DEALER per request, ``{"payload"}`` → ``{"preds"}``).
ORIGINAL = "original design (a thread per request, its client and format)"
#: Our server cut down to one worker and no batching, in our base64 JSON: what our broker and a
#: single worker give, without the pool and the batches.
ONE_WORKER = "our server, 1 worker, no batching, base64 JSON"
WAITRESS = "our server, web app (waitress)"
RAY_SERVE = "Ray Serve (@serve.batch), HTTP"
#: The suffix of a system whose client sends decoded pixels instead of the file.
PIXELS = ", pixels"
#: CPU per request below this (ms) is left out of the table: a process idle in that system's bursts.
CPU_SHOWN_MS = 0.5


def openvino_system(precision: str) -> str:
    """The benchmark's name for our server through the client, on OpenVINO at ``precision``."""
    return f"{OURS}, OpenVINO {precision}"


def round_view(record: dict) -> dict:
    """One round's record in the shape ``round_ratios`` reads: its bare limits and its systems."""
    view = {"systems": record["systems"], "bare_openvino": {}}
    if bare_name(TENSORFLOW, "f32") in record["bare"]:
        view["bare"] = record["bare"][bare_name(TENSORFLOW, "f32")]
    for precision in PRECISIONS:
        if bare_name(OPENVINO, precision) in record["bare"]:
            view["bare_openvino"][precision] = record["bare"][bare_name(OPENVINO, precision)]
    return view


def _row(results: dict, system: str, concurrency: int) -> dict | None:
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
    ours_1, ours_8 = _row(results, OURS, 1), _row(results, OURS, 8)
    if bare and ours_1:
        out["client_overhead_ms_at_1"] = round(ours_1["median_ms"] - bare["latency_ms"], 2)
        if "decode_ms" in bare:
            out["client_overhead_beyond_decode_ms_at_1"] = round(
                ours_1["median_ms"] - bare["latency_ms"] - bare["decode_ms"], 2)
    pixels_1, pixels_8 = _row(results, OURS + PIXELS, 1), _row(results, OURS + PIXELS, 8)
    if bare and pixels_1:
        out["client_pixels_overhead_ms_at_1"] = round(pixels_1["median_ms"] - bare["latency_ms"], 2)
    web_1 = _row(results, WAITRESS, 1)
    if bare and web_1:
        out["web_waitress_overhead_ms_at_1"] = round(web_1["median_ms"] - bare["latency_ms"], 2)
    if bare and ours_8:
        out["ours_at_8_vs_bare_best"] = round(ours_8["throughput"] / bare["best_throughput"], 3)
    if bare and pixels_8:
        out["ours_pixels_at_8_vs_bare_best"] = round(pixels_8["throughput"] / bare["best_throughput"], 3)
    out.update(_vs_bare_batch_8(bare, {"ours": ours_8, "ours_pixels": pixels_8}))
    original_8, one_worker_8 = _row(results, ORIGINAL, 8), _row(results, ONE_WORKER, 8)
    if ours_8 and original_8:
        out["ours_at_8_vs_original_at_8"] = round(ours_8["throughput"] / original_8["throughput"], 2)
    if ours_8 and one_worker_8:
        out["ours_at_8_vs_one_worker_at_8"] = round(ours_8["throughput"] / one_worker_8["throughput"], 2)
    base64_1 = _row(results, "our server, client, base64 JSON", 1)
    if base64_1 and ours_1:
        out["base64_json_minus_binary_frames_ms_at_1"] = round(base64_1["median_ms"] - ours_1["median_ms"], 2)
    monolith = _row(results, "monolith", 1)
    if monolith and ours_1:
        out["monolith_vs_ours_at_1"] = round(monolith["median_ms"] / ours_1["median_ms"], 1)
    for clients in results["systems"].get(RAY_SERVE, {}):
        web, ray = _row(results, WAITRESS, int(clients)), _row(results, RAY_SERVE, int(clients))
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
    monolith = _row(results, "monolith", 1)
    for precision, bare in results.get("bare_openvino", {}).items():
        system = openvino_system(precision)
        for suffix, form in (("", ""), (PIXELS, "_pixels")):  # the file, then the pixels
            name = f"openvino_{precision}{form}"
            one, eight = _row(results, system + suffix, 1), _row(results, system + suffix, 8)
            if one:
                out[f"{name}_client_overhead_ms_at_1"] = round(one["median_ms"] - bare["latency_ms"], 2)
            if eight:
                out[f"{name}_at_8_vs_own_bare_best"] = round(eight["throughput"] / bare["best_throughput"], 3)
            out.update(_vs_bare_batch_8(bare, {name: eight}))
        at_1 = _row(results, system, 1)
        if at_1 and monolith:
            out[f"monolith_vs_openvino_{precision}_at_1"] = round(monolith["median_ms"] / at_1["median_ms"], 1)
        ours_1 = _row(results, OURS, 1)
        if at_1 and ours_1:
            out[f"tensorflow_vs_openvino_{precision}_median_at_1"] = round(
                ours_1["median_ms"] / at_1["median_ms"], 2)
    return out


def _range(row: dict, key: str) -> str:
    low, high = row.get(f"{key}_min"), row.get(f"{key}_max")
    return f" ({low}–{high})" if low is not None and high is not None else ""


def table(results: dict) -> str:
    bare = results["bare"]
    rounds = len(results.get("rounds", [])) or None
    over = f" (min–max over {rounds} rounds)" if rounds else ""
    lines = [
        (f"Bare model{over}: batch 1 in {bare['latency_ms']}{_range(bare, 'latency_ms')} ms; best "
        f"throughput {bare['best_throughput']}{_range(bare, 'best_throughput')} img/s at batch "
        f"{bare['best_batch']}; decoding one 640×480 JPEG {bare['decode_ms']} ms."),
        *(f"Bare model on OpenVINO {precision}: batch 1 in {limit['latency_ms']}"
          f"{_range(limit, 'latency_ms')} ms; best throughput {limit['best_throughput']}"
          f"{_range(limit, 'best_throughput')} img/s at batch {limit['best_batch']}."
          for precision, limit in results.get("bare_openvino", {}).items()),
        "",
        "| system | clients | median ms (min–max) | p95 ms | p99 ms | img/s (min–max) | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, rows in results["systems"].items():
        for concurrency, row in rows.items():
            lines.append(
                f"| {name} | {concurrency} | {row['median_ms']}{_range(row, 'median_ms')} | {row['p95_ms']} "
                f"| {row['p99_ms']} | {row['throughput']}{_range(row, 'throughput')} | {row['errors']} |"
            )
    cpu_rows = [(name, clients, row["cpu_ms_per_request"]) for name, rows in results["systems"].items()
                for clients, row in rows.items() if row.get("cpu_ms_per_request")]
    if cpu_rows:
        lines += ["", ("CPU milliseconds per request by process (median over rounds; processes under "
                  f"{CPU_SHOWN_MS} ms left out; the load generator holds the clients):"), "",
                  "| system | clients | CPU ms per request |", "| --- | ---: | --- |"]
        for name, clients, spent in cpu_rows:
            shown = "; ".join(f"{process} {ms}" for process, ms in
                              sorted(spent.items(), key=lambda item: -item[1]) if ms >= CPU_SHOWN_MS)
            lines.append(f"| {name} | {clients} | {shown} |")
    footprints = results.get("footprints", {})
    if footprints:
        lines += ["", "| process | start to ready (s) | memory (MiB) |", "| --- | ---: | ---: |"]
        for process, figures in footprints.items():
            lines.append(f"| {process} | {figures['ready_s']} | {figures['memory_mb']} |")
    paired = results.get("overhead")
    if paired:
        lines += ["", (f"One request at a time, {paired['rounds']} rounds in which the bare model, "
                  "the client and the web app (waitress; a multipart form, and the image as the body) take turns:"), "",
                  "| milliseconds | median | quartiles |", "| --- | ---: | ---: |"]
        lines += [f"| {name} | {figures['median']} | {figures['q1']}–{figures['q3']} |"
                  for name, figures in paired.items() if isinstance(figures, dict)]
    if "image_sizes" in results:
        from .image_sizes import markdown  # the section's own table

        for runtime, section in results["image_sizes"].items():
            lines += ["", f"Image sizes on {runtime}, {section['rounds_run']} interleaved rounds:", "",
                      markdown(section["summary"])]
    if "broker" in results:
        lines += ["", *broker_lines(results["broker"])]
    if "open_loop" in results:
        lines += ["", open_loop_report.table(results["open_loop"]).rstrip("\n")]
    spread = results.get("ratio_spread", {})
    lines += ["", "| ratio | value | min–max over rounds |", "| --- | ---: | ---: |"]
    for name, value in results["ratios"].items():
        figures = spread.get(name)
        span = f"{figures['min']}–{figures['max']} ({figures['rounds']})" if figures else ""
        lines.append(f"| {name} | {value} | {span} |")
    return "\n".join(lines) + "\n"


def broker_lines(broker: dict) -> list[str]:
    """The broker section: reading a request's header by its size, and a small request's latency
    while another client streams big ones."""
    lines = [("The broker reading what routing needs from a request in the original's base64 JSON "
             "(median ms; the whole JSON parsed, for comparison):"), "",
             "| request | frame bytes | header read (ms) | whole JSON parsed (ms) |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {name} | {figures['frame_bytes']} | {figures['read_header_ms']} | {figures['whole_json_loads_ms']} |"
              for name, figures in broker["header"].items()]
    lines += ["", "A small request's latency alone and while another client streams (ms):", "",
              "| streamed | probe | p50 alone | p99 alone | p50 while streaming | p99 while streaming | p99 ratio |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for streamed, probes in broker.items():
        if streamed == "header":
            continue
        for probe, figures in probes.items():
            if not isinstance(figures, dict):
                continue
            alone, busy = figures["alone"], figures["while another client streams"]
            lines.append(f"| {streamed} | {probe} | {alone['p50_ms']} | {alone['p99_ms']} | {busy['p50_ms']} "
                         f"| {busy['p99_ms']} | {figures['p99 ratio']} |")
    return lines


def plot(results: dict, path: Path) -> None:
    """Throughput against clients for every system (median over rounds, bars min–max), with each
    runtime's bare best as a dashed line; and the latency of one request."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 6.5))
    colours = plt.get_cmap("tab20").colors
    for index, (name, rows) in enumerate(results["systems"].items()):
        if name == "monolith":
            continue
        levels = sorted(rows, key=int)
        left.errorbar(
            [int(c) for c in levels], [rows[c]["throughput"] for c in levels],
            yerr=[[rows[c]["throughput"] - rows[c]["throughput_min"] for c in levels],
                  [rows[c]["throughput_max"] - rows[c]["throughput"] for c in levels]],
            marker="o", capsize=3, label=name, color=colours[index % len(colours)],
            linestyle=":" if name.endswith(PIXELS) else "-",
        )
    bares = {"TensorFlow": results["bare"], **{f"OpenVINO {p}": limit for p, limit in
                                               results.get("bare_openvino", {}).items()}}
    for (runtime, limit), shade in zip(bares.items(), ("black", "dimgray", "darkgray")):
        left.axhline(limit["best_throughput"], color=shade, linestyle="--", linewidth=1,
                     label=f"bare model, {runtime}, best batch ({limit['best_batch']})")
    left.set(xlabel="concurrent clients", ylabel="images per second",
             title="Throughput (dotted: the client sends decoded pixels)")
    left.set_ylim(bottom=0)
    left.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)

    names = [n for n in results["systems"] if _row(results, n, 1)]
    medians = [_row(results, n, 1)["median_ms"] for n in names]
    right.barh(names + ["bare model (TensorFlow)"], medians + [results["bare"]["latency_ms"]])
    right.set_xscale("log")
    right.set(xlabel="median latency, one client (ms, log scale)", title="Latency of one request")
    right.tick_params(axis="y", labelsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
