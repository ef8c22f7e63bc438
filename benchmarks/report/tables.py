"""The run's results as Markdown: the bare limits, one row per system and number of clients, the
CPU per request, the footprints and each section's table, then the ratios."""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.report import open_loop as open_loop_report

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


def markdown(rows: Sequence[dict[str, object]]) -> str:
    """``rows`` (each a mapping of the same columns) as a Markdown table."""
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[key]) for key in header) + " |" for row in rows]
    return "\n".join(lines)
