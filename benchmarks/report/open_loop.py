"""The open-loop section's report: its targets, met or not, a Markdown table, and latency against
offered load as a plot. Everything is computed from the JSON that ``open_loop.measure`` returns,
so ``python -m benchmarks --report-only`` redoes it.

The targets (issue 14), for each path, against its capacity (the closed-loop throughput at 8
clients) and its one-client latency (closed loop, median): each is measured right before every
rate, and a path's figure is the median of those measurements (a single one, 2–3 s long, can be
far off on a shared machine: 32 img/s among five of 16.6–20.2):

- at 2× capacity, goodput ≥ 90% of capacity;
- at 2× capacity, no timeouts: every request beyond the queue is answered ``busy`` at once;
- at 2× capacity, the p99 of answered requests ≤ max_queue ÷ capacity + one batch (a full batch,
  ``max_batch`` images, takes ``max_batch`` ÷ capacity);
- below capacity, the p99 ≤ 3× the one-client latency.

Rates are set from the path's first capacity measurement; "below capacity" means a ``load``
(offered rate ÷ the path's capacity) below 1, which on a shared machine can differ. Next to
the last target stands what an ideal batching server would reach (``ideal_batching_p99``): even
with no overhead at all, Poisson arrivals queue behind forward passes whose cost grows with the
batch, and on a CPU it grows almost in proportion.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from benchmarks.report.markdown import markdown_table
from harness.stats import percentile, spread

GOODPUT_TARGET = 0.90
BELOW_CAPACITY_P99_TARGET = 3.0
OVERLOAD_FACTOR = 2.0
#: Requests simulated for ``ideal_batching_p99``: enough for a steady p99, a few tens of ms.
IDEAL_REQUESTS = 20_000


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


def capacity(path: dict) -> float:
    """The path's capacity: the median of those measured before each of its rates."""
    return spread([capacity_before(path, rate) for rate in path["rates"]], 2)["median"]


def one_client(path: dict) -> float:
    return spread([one_client_before(path, rate) for rate in path["rates"]], 2)["median"]


def load(path: dict, rate: dict) -> float:
    """The offered rate ÷ the path's capacity."""
    return rate["offered_rate"] / capacity(path)


def ideal_batching_p99(utilization: float, one_ms: float, capacity: float, max_batch: int,
                       seed: int = 0) -> float:
    """p99 latency ÷ ``one_ms`` of an ideal batching server under Poisson arrivals.

    Its only cost is the forward pass, ``a + b·k`` for ``k`` images, fitted to the two
    measurements: one image in ``one_ms``, and ``max_batch`` images at ``capacity`` per second.
    Whenever it is free it takes everything waiting, up to ``max_batch``.
    """
    batch_s = max_batch / capacity
    per_image = max(0.0, (batch_s - one_ms / 1000.0) / (max_batch - 1))
    fixed = max(0.0, one_ms / 1000.0 - per_image)
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / (utilization * capacity), IDEAL_REQUESTS))
    sojourn = np.empty(IDEAL_REQUESTS)
    free_at, first = 0.0, 0
    while first < IDEAL_REQUESTS:
        start = max(free_at, arrivals[first])
        last = first + 1
        while last < IDEAL_REQUESTS and last - first < max_batch and arrivals[last] <= start:
            last += 1
        free_at = start + fixed + per_image * (last - first)
        sojourn[first:last] = free_at - arrivals[first:last]
        first = last
    p99_s = percentile(sojourn.tolist(), 99, digits=6)
    assert p99_s is not None, "IDEAL_REQUESTS requests were simulated"
    return p99_s * 1000.0 / one_ms


def queue_bound_ms(section: dict, capacity: float) -> float:
    """max_queue ÷ capacity + one full batch (max_batch ÷ capacity), in milliseconds."""
    settings = section["settings"]
    return round((settings["max_queue"] + settings["max_batch"]) / capacity * 1000.0, 1)


def _below_capacity(path: dict) -> list[tuple[float, dict]]:
    """(p99 ÷ the path's one-client latency, rate) for each rate below the path's capacity."""
    return [(rate["p99_ms"] / one_client(path), rate) for rate in path["rates"]
            if load(path, rate) < 1 and rate["p99_ms"] is not None]


def targets(section: dict) -> list[Target]:
    out = []
    for name, path in section["paths"].items():
        overload = _overload(path)
        if overload is not None:
            reference = capacity(path)
            ratio = overload["goodput"] / reference
            out.append(Target(name, "goodput at 2× capacity", f"{ratio:.2f} × capacity "
                              f"({overload['goodput']} of {reference}/s)",
                              f"≥ {GOODPUT_TARGET:.2f}", ratio >= GOODPUT_TARGET))
            busy = (f"; busy replies p99 {overload['busy_p99_ms']} ms" if overload["busy"] else
                    f"; no busy replies (server queue peak {overload.get('server_queue_peak')} of "
                    f"{section['settings']['max_queue']})")
            out.append(Target(name, "timeouts at 2× capacity",
                              f"{overload['timeouts']} of {overload['sent']}{busy}", "0",
                              overload["timeouts"] == 0))
            bound = queue_bound_ms(section, reference)
            p99 = overload["p99_ms"]
            out.append(Target(name, "p99 at 2× capacity", f"{p99} ms", f"≤ {bound} ms",
                              p99 is not None and p99 <= bound))
        below = _below_capacity(path)
        if below:
            ideal = [ideal_batching_p99(load(path, rate), one_client(path), capacity(path),
                                        section["settings"]["max_batch"]) for _, rate in below]
            measured = ", ".join(f"{ratio:.1f} at {load(path, rate):.2f}" for ratio, rate in below)
            out.append(Target(name, "p99 below capacity ÷ one-client latency",
                              f"{measured} of the capacity (an ideal batching server: "
                              f"{', '.join(f'{x:.1f}' for x in ideal)}; one client {one_client(path)} ms)",
                              f"≤ {BELOW_CAPACITY_P99_TARGET:g}",
                              all(ratio <= BELOW_CAPACITY_P99_TARGET for ratio, _ in below)))
    return out


def ratios(section: dict) -> dict[str, float]:
    """The target figures as numbers, for the benchmark's ratio table."""
    out: dict[str, float] = {}
    for name, path in section["paths"].items():
        key = "open_loop_" + name.split(" ")[0]
        overload = _overload(path)
        if overload is not None:
            reference = capacity(path)
            out[f"{key}_goodput_at_2x_vs_capacity"] = round(overload["goodput"] / reference, 3)
            out[f"{key}_timeout_share_at_2x"] = overload["timeout_share"]
            if overload["p99_ms"] is not None:
                out[f"{key}_p99_at_2x_vs_queue_bound"] = round(
                    overload["p99_ms"] / queue_bound_ms(section, reference), 3)
        below = _below_capacity(path)
        if below:
            out[f"{key}_p99_below_capacity_vs_one_client"] = round(max(r for r, _ in below), 2)
    return out


def table(section: dict) -> str:
    settings = section["settings"]
    lines = [(f"Open loop ({section['date']}): Poisson arrivals for {settings['seconds_per_rate']:g} s "
             f"per offered rate, timeout {settings['timeout_s']:g} s; model server on "
             f"{settings['runtime']} {settings['precision']}, {settings['workers']} workers, "
             f"max_batch {settings['max_batch']}, max_queue {settings['max_queue']}. A path's capacity "
             f"({settings['capacity_clients']} clients, closed loop) and one-client latency are the "
             "medians of those measured right before each of its rates; load is the offered rate ÷ "
             "that capacity."), ""]
    for name, path in section["paths"].items():
        capacities = spread([capacity_before(path, rate) for rate in path["rates"]], 2)
        ones = spread([one_client_before(path, rate) for rate in path["rates"]], 2)
        lines += [
            (f"{name}: capacity {capacities['median']} img/s (median of {capacities['rounds']}, "
            f"{capacities['min']}–{capacities['max']}), one client {ones['median']} ms (median, "
            f"{ones['min']}–{ones['max']}); offered rates set by the first, "
            f"{path['capacity']['throughput']} img/s."), "",
            *markdown_table(RATE_COLUMNS, [_rate_row(path, rate) for rate in path["rates"]], "r" * len(RATE_COLUMNS)),
            "",
        ]
    lines += markdown_table(["path", "target", "measured", "bound", "met"],
                            [[t.path, t.name, t.measured, t.bound, "yes" if t.met else "no"]
                             for t in targets(section)])
    return "\n".join(lines) + "\n"


RATE_COLUMNS = ["offered", "req/s", "drawn req/s", "capacity before", "load", "goodput/s (÷ capacity)", "p50 ms",
                "p99 ms (÷ one client)", "busy", "timeouts", "errors", "late p50 / p99 / max ms",
                "server queue peak"]


def _rate_row(path: dict, rate: dict) -> list[object]:
    """One offered rate's row of ``RATE_COLUMNS``."""
    p99 = "" if rate["p99_ms"] is None else f"{rate['p99_ms']} ({rate['p99_ms'] / one_client(path):.1f}×)"
    return [f"{rate['factor']:g}×", rate["offered_rate"], rate["sent_rate"], capacity_before(path, rate),
            f"{load(path, rate):.2f}", f"{rate['goodput']} ({rate['goodput'] / capacity(path):.2f})",
            rate["p50_ms"], p99, f"{rate['busy_share']:.1%}", f"{rate['timeout_share']:.1%}", rate["errors"],
            f"{rate['lateness_p50_ms']} / {rate['lateness_p99_ms']} / {rate['lateness_max_ms']}",
            rate.get("server_queue_peak", "")]


def plot(section: dict, path: Path) -> None:
    """Latency (p50, p99) against load (offered rate ÷ the path's capacity), and what
    became of the requests, per path; the targets' bounds dotted."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 7.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, (name, measured) in zip(colours, section["paths"].items()):
        rates = sorted(measured["rates"], key=lambda rate: load(measured, rate))
        loads = [load(measured, rate) for rate in rates]
        answered = [(x, rate) for x, rate in zip(loads, rates) if rate["p50_ms"] is not None]
        left.plot([x for x, _ in answered], [r["p99_ms"] for _, r in answered], "o-", color=colour,
                  label=f"{name}: p99")
        left.plot([x for x, _ in answered], [r["p50_ms"] for _, r in answered], "s--", color=colour,
                  label=f"{name}: p50")
        overload = _overload(measured)
        if overload is not None:
            left.plot([load(measured, overload)], [queue_bound_ms(section, capacity(measured))], "_",
                      markersize=24, markeredgewidth=2, color=colour)
        below = [(x, rate) for x, rate in zip(loads, rates) if x < 1]
        left.plot([x for x, _ in below],
                  [BELOW_CAPACITY_P99_TARGET * one_client(measured) for _ in below],
                  ":", color=colour, linewidth=1)
        right.plot(loads, [rate["goodput"] / capacity(measured) for rate in rates],
                   "o-", color=colour, label=f"{name}: goodput ÷ capacity")
        right.plot(loads, [rate["busy_share"] for rate in rates], "^--", color=colour,
                   label=f"{name}: share busy / 503")
        right.plot(loads, [rate["timeout_share"] for rate in rates], "x:", color=colour,
                   label=f"{name}: share timed out")
    left.plot([], [], ":", color="grey", label="bound below capacity: 3× one client")
    left.plot([], [], "_", color="grey", markersize=12, markeredgewidth=2,
              label="bound at 2×: max_queue ÷ capacity + one batch")
    left.axhline(section["settings"]["timeout_s"] * 1000.0, color="grey", linestyle="--",
                 linewidth=0.8, label="timeout")
    left.axvline(1.0, color="grey", linewidth=0.8)
    left.set_yscale("log")
    left.set(xlabel="load: offered rate ÷ capacity (Poisson arrivals)",
             ylabel="latency of answered requests (ms)", title="Latency against offered load (open loop)")
    left.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    right.axvline(1.0, color="grey", linewidth=0.8)
    right.axhline(GOODPUT_TARGET, color="black", linestyle="--", linewidth=0.8,
                  label="goodput target at 2×")
    right.set(xlabel="load: offered rate ÷ capacity",
              ylabel="goodput ÷ capacity; share of requests", title="What became of the requests")
    right.set_ylim(bottom=0)
    right.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
