"""The run's plot: throughput against clients for every system, and one request's latency."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from benchmarks.report.ratios import system_row
from benchmarks.systems.catalogue import MONOLITH, PIXELS


def plot(results: dict, path: Path) -> None:
    """Throughput against clients for every system (median over rounds, bars min–max), with each
    runtime's bare best as a dashed line; and the latency of one request."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 6.5))
    colours = plt.get_cmap("tab20")
    for index, (name, rows) in enumerate(results["systems"].items()):
        if name == MONOLITH:
            continue
        levels = sorted(rows, key=int)
        left.errorbar(
            [int(c) for c in levels], [rows[c]["throughput"] for c in levels],
            yerr=[[rows[c]["throughput"] - rows[c]["throughput_min"] for c in levels],
                  [rows[c]["throughput_max"] - rows[c]["throughput"] for c in levels]],
            marker="o", capsize=3, label=name, color=colours(index % colours.N),
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

    at_one = {name: row for name in results["systems"] if (row := system_row(results, name, 1))}
    names, medians = list(at_one), [row["median_ms"] for row in at_one.values()]
    right.barh(names + ["bare model (TensorFlow)"], medians + [results["bare"]["latency_ms"]])
    right.set_xscale("log")
    right.set(xlabel="median latency, one client (ms, log scale)", title="Latency of one request")
    right.tick_params(axis="y", labelsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
