"""The run's results as Markdown: the bare limits, one row per system and number of clients, the
CPU per request, the footprints and each section's table, then the ratios."""

from __future__ import annotations

from benchmarks.report import open_loop as open_loop_report
from benchmarks.report.markdown import markdown, markdown_table

#: CPU per request below this (ms) is left out of the table: a process idle in that system's bursts.
CPU_SHOWN_MS = 0.5


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
        *markdown_table(
            ["system", "clients", "median ms (min–max)", "p95 ms", "p99 ms", "img/s (min–max)", "errors"],
            [[name, concurrency, f"{row['median_ms']}{_range(row, 'median_ms')}", row["p95_ms"], row["p99_ms"],
              f"{row['throughput']}{_range(row, 'throughput')}", row["errors"]]
             for name, rows in results["systems"].items() for concurrency, row in rows.items()],
            "lrrrrrr"),
    ]
    cpu_rows = [(name, clients, row["cpu_ms_per_request"]) for name, rows in results["systems"].items()
                for clients, row in rows.items() if row.get("cpu_ms_per_request")]
    if cpu_rows:
        lines += ["", ("CPU milliseconds per request by process (median over rounds; processes under "
                  f"{CPU_SHOWN_MS} ms left out; the load generator holds the clients):"), "",
                  *markdown_table(["system", "clients", "CPU ms per request"],
                                  [[name, clients, _cpu_shown(spent)] for name, clients, spent in cpu_rows],
                                  "lrl")]
    footprints = results.get("footprints", {})
    if footprints:
        lines += ["", *markdown_table(["process", "start to ready (s)", "memory (MiB)"],
                                      [[process, figures["ready_s"], figures["memory_mb"]]
                                       for process, figures in footprints.items()], "lrr")]
    paired = results.get("overhead")
    if paired:
        lines += ["", (f"One request at a time, {paired['rounds']} rounds in which the bare model, "
                  "the client and the web app (waitress; a multipart form, and the image as the body) take turns:"), "",
                  *markdown_table(["milliseconds", "median", "quartiles"],
                                  [[name, figures["median"], f"{figures['q1']}–{figures['q3']}"]
                                   for name, figures in paired.items() if isinstance(figures, dict)], "lrr")]
    lines += section_lines(results)
    spread = results.get("ratio_spread", {})
    lines += ["", *markdown_table(["ratio", "value", "min–max over rounds"],
                                  [[name, value, _span(spread.get(name))]
                                   for name, value in results["ratios"].items()], "lrr")]
    return "\n".join(lines) + "\n"


def _cpu_shown(spent: dict[str, float]) -> str:
    """Each process's CPU ms per request, most first, those under ``CPU_SHOWN_MS`` left out."""
    return "; ".join(f"{process} {ms}" for process, ms in sorted(spent.items(), key=lambda item: -item[1])
                     if ms >= CPU_SHOWN_MS)


def _span(figures: dict | None) -> str:
    return f"{figures['min']}–{figures['max']} ({figures['rounds']})" if figures else ""


def section_lines(results: dict) -> list[str]:
    """The tables of the sections that can run without the rounds: the image sizes, the broker
    and the open loop, each after an empty line."""
    lines = []
    for runtime, section in results.get("image_sizes", {}).items():
        lines += ["", f"Image sizes on {runtime}, {section['rounds_run']} interleaved rounds:", "",
                  markdown(section["summary"])]
    if "broker" in results:
        lines += ["", *broker_lines(results["broker"])]
    if "open_loop" in results:
        lines += ["", open_loop_report.table(results["open_loop"]).rstrip("\n")]
    return lines


def broker_lines(broker: dict) -> list[str]:
    """The broker section: reading a request's header by its size, and a small request's latency
    while another client streams big ones."""
    lines = [("The broker reading what routing needs from a request in the original's base64 JSON "
             "(median ms; the whole JSON parsed, for comparison):"), "",
             *markdown_table(["request", "frame bytes", "header read (ms)", "whole JSON parsed (ms)"],
                             [[name, figures["frame_bytes"], figures["read_header_ms"], figures["whole_json_loads_ms"]]
                              for name, figures in broker["header"].items()], "lrrr")]
    latencies = []
    for streamed, probes in broker.items():
        if streamed == "header":
            continue
        for probe, figures in probes.items():
            if not isinstance(figures, dict):
                continue
            alone, busy = figures["alone"], figures["while another client streams"]
            latencies.append([streamed, probe, alone["p50_ms"], alone["p99_ms"], busy["p50_ms"], busy["p99_ms"],
                              figures["p99 ratio"]])
    return lines + ["", "A small request's latency alone and while another client streams (ms):", "",
                    *markdown_table(["streamed", "probe", "p50 alone", "p99 alone", "p50 while streaming",
                                     "p99 while streaming", "p99 ratio"], latencies, "llrrrrr")]
