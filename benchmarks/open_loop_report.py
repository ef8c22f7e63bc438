"""The open-loop section's report: its targets, met or not, a Markdown table, and latency against
offered load as a plot. Everything is computed from the JSON that ``open_loop.measure`` returns,
so ``python -m benchmarks --report-only`` redoes it.

The targets (issue 14), for each path, each rate judged against the capacity (the closed-loop
throughput at 8 clients) and the one-client latency measured right before it:

- at 2× capacity, goodput ≥ 90% of capacity;
- at 2× capacity, no timeouts: every request beyond the queue is answered ``busy`` at once;
- at 2× capacity, the p99 of answered requests ≤ max_queue ÷ capacity + one batch (a full batch,
  ``max_batch`` images, takes ``max_batch`` ÷ capacity);
- below capacity, the p99 ≤ 3× the one-client latency (closed loop, median).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GOODPUT_TARGET = 0.90
BELOW_CAPACITY_P99_TARGET = 3.0
OVERLOAD_FACTOR = 2.0


@dataclass(frozen=True)
class Target:
    path: str
    name: str
    measured: str
    bound: str
    met: bool


def _overload(path: dict) -> dict | None:
    return next((rate for rate in path["rates"] if rate["factor"] == OVERLOAD_FACTOR), None)


def capacity_before(path: dict, rate: dict) -> float:
    """The capacity measured right before ``rate`` (the path's first, in runs that kept only that)."""
    return rate.get("capacity_before", path["capacity"]["throughput"])


def one_client_before(path: dict, rate: dict) -> float:
    return rate.get("one_client_before_ms", path["one_client"]["median_ms"])


def queue_bound_ms(section: dict, capacity: float) -> float:
    """max_queue ÷ capacity + one full batch (max_batch ÷ capacity), in milliseconds."""
    settings = section["settings"]
    return round((settings["max_queue"] + settings["max_batch"]) / capacity * 1000.0, 1)


def _below_capacity(path: dict) -> list[tuple[float, dict]]:
    """(p99 ÷ the one-client latency right before, rate) for each rate below capacity."""
    return [(rate["p99_ms"] / one_client_before(path, rate), rate) for rate in path["rates"]
            if rate["factor"] < 1 and rate["p99_ms"] is not None]


def targets(section: dict) -> list[Target]:
    out = []
    for name, path in section["paths"].items():
        overload = _overload(path)
        if overload is not None:
            capacity = capacity_before(path, overload)
            ratio = overload["goodput"] / capacity
            out.append(Target(name, "goodput at 2× capacity", f"{ratio:.2f} × capacity "
                              f"({overload['goodput']} of {capacity}/s)",
                              f"≥ {GOODPUT_TARGET:.2f}", ratio >= GOODPUT_TARGET))
            busy = (f"; busy replies p99 {overload['busy_p99_ms']} ms" if overload["busy"] else
                    f"; no busy replies (server queue peak {overload.get('server_queue_peak')} of "
                    f"{section['settings']['max_queue']})")
            out.append(Target(name, "timeouts at 2× capacity",
                              f"{overload['timeouts']} of {overload['sent']}{busy}", "0",
                              overload["timeouts"] == 0))
            bound = queue_bound_ms(section, capacity)
            p99 = overload["p99_ms"]
            out.append(Target(name, "p99 at 2× capacity", f"{p99} ms", f"≤ {bound} ms",
                              p99 is not None and p99 <= bound))
        below = _below_capacity(path)
        if below:
            ratio, worst = max(below, key=lambda pair: pair[0])
            out.append(Target(name, "p99 below capacity ÷ one-client latency",
                              f"{ratio:.2f} (p99 {worst['p99_ms']} ms at {worst['factor']:g}×, one "
                              f"client {one_client_before(path, worst)} ms)",
                              f"≤ {BELOW_CAPACITY_P99_TARGET:g}", ratio <= BELOW_CAPACITY_P99_TARGET))
    return out


def ratios(section: dict) -> dict[str, float]:
    """The target figures as numbers, for the benchmark's ratio table."""
    out: dict[str, float] = {}
    for name, path in section["paths"].items():
        key = "open_loop_" + name.split(" ")[0]
        overload = _overload(path)
        if overload is not None:
            capacity = capacity_before(path, overload)
            out[f"{key}_goodput_at_2x_vs_capacity"] = round(overload["goodput"] / capacity, 3)
            out[f"{key}_timeout_share_at_2x"] = overload["timeout_share"]
            if overload["p99_ms"] is not None:
                out[f"{key}_p99_at_2x_vs_queue_bound"] = round(
                    overload["p99_ms"] / queue_bound_ms(section, capacity), 3)
        below = _below_capacity(path)
        if below:
            out[f"{key}_p99_below_capacity_vs_one_client"] = round(max(r for r, _ in below), 2)
    return out


def table(section: dict) -> str:
    settings = section["settings"]
    lines = [f"Open loop ({section['date']}): Poisson arrivals for {settings['seconds_per_rate']:g} s "
             f"per offered rate, timeout {settings['timeout_s']:g} s; model server on "
             f"{settings['runtime']} {settings['precision']}, {settings['workers']} workers, "
             f"max_batch {settings['max_batch']}, max_queue {settings['max_queue']}. Each rate is "
             f"judged against the capacity ({settings['capacity_clients']} clients, closed loop) and "
             "the one-client latency measured right before it.", ""]
    for name, path in section["paths"].items():
        lines += [
            f"{name}: offered rates set by a capacity of {path['capacity']['throughput']} img/s "
            f"(one client {path['one_client']['median_ms']} ms median).", "",
            "| offered | req/s | drawn req/s | capacity before | goodput/s (÷ capacity) | p50 ms "
            "| p99 ms (÷ one client) | busy | timeouts | errors | late p50 / p99 / max ms "
            "| server queue peak |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for rate in path["rates"]:
            capacity, one = capacity_before(path, rate), one_client_before(path, rate)
            p99 = "" if rate["p99_ms"] is None else f"{rate['p99_ms']} ({rate['p99_ms'] / one:.1f}×)"
            lines.append(
                f"| {rate['factor']:g}× | {rate['offered_rate']} | {rate['sent_rate']} | {capacity} "
                f"| {rate['goodput']} ({rate['goodput'] / capacity:.2f}) | {rate['p50_ms']} | {p99} "
                f"| {rate['busy_share']:.1%} | {rate['timeout_share']:.1%} | {rate['errors']} "
                f"| {rate['lateness_p50_ms']} / {rate['lateness_p99_ms']} / {rate['lateness_max_ms']} "
                f"| {rate.get('server_queue_peak', '')} |")
        lines.append("")
    lines += ["| path | target | measured | bound | met |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {t.path} | {t.name} | {t.measured} | {t.bound} | {'yes' if t.met else 'no'} |"
              for t in targets(section)]
    return "\n".join(lines) + "\n"


def plot(section: dict, path: Path) -> None:
    """Latency (p50, p99) against offered load, and what became of the requests, per path."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, (name, measured) in zip(colours, section["paths"].items()):
        rates = measured["rates"]
        capacity = measured["capacity"]["throughput"]
        factors = [rate["factor"] for rate in rates]
        answered = [(rate["factor"], rate) for rate in rates if rate["p50_ms"] is not None]
        label = f"{name} (rates set by capacity {capacity}/s)"
        left.plot([f for f, _ in answered], [r["p99_ms"] for _, r in answered], "o-", color=colour,
                  label=f"{label}: p99")
        left.plot([f for f, _ in answered], [r["p50_ms"] for _, r in answered], "s--", color=colour,
                  label=f"{label}: p50")
        overload = _overload(measured)
        if overload is not None:
            left.plot([overload["factor"]], [queue_bound_ms(section, capacity_before(measured, overload))],
                      "_", markersize=24, markeredgewidth=2, color=colour,
                      label=f"{name}: bound at 2×, max_queue ÷ capacity + one batch")
        below = [rate for rate in rates if rate["factor"] < 1]
        left.plot([rate["factor"] for rate in below],
                  [BELOW_CAPACITY_P99_TARGET * one_client_before(measured, rate) for rate in below],
                  ":", color=colour, linewidth=1, label=f"{name}: bound below capacity, 3× one client")
        right.plot(factors, [rate["goodput"] / capacity_before(measured, rate) for rate in rates],
                   "o-", color=colour, label=f"{name}: goodput ÷ capacity right before")
        right.plot(factors, [rate["busy_share"] for rate in rates], "^--", color=colour,
                   label=f"{name}: share busy / 503")
        right.plot(factors, [rate["timeout_share"] for rate in rates], "x:", color=colour,
                   label=f"{name}: share timed out")
    left.axvline(1.0, color="grey", linewidth=0.8)
    left.axhline(section["settings"]["timeout_s"] * 1000.0, color="grey", linestyle="--", linewidth=0.8,
                 label="timeout")
    left.set_yscale("log")
    left.set(xlabel="offered load (× capacity, Poisson arrivals)", ylabel="latency of answered requests (ms)",
             title="Latency against offered load (open loop)")
    left.legend(fontsize=7, loc="upper left")
    right.axvline(1.0, color="grey", linewidth=0.8)
    right.axhline(GOODPUT_TARGET, color="black", linestyle="--", linewidth=0.8, label="goodput target at 2×")
    right.set(xlabel="offered load (× capacity)", ylabel="goodput ÷ capacity; share of requests",
              title="What became of the requests")
    right.set_ylim(bottom=0)
    right.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
