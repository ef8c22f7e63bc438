"""The lab's plots, with matplotlib. Each function returns a finished ``Figure``.

Figures are closed before they are returned, so a notebook shows each one exactly once (as the
cell's result) and a test can make plots without a display.
"""

from __future__ import annotations

import textwrap
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .cold_start import STAGE_TITLES
from .settings import ORIGINAL, OriginalFigures
from .timing import Summary

OURS = "#3b6fb6"
REFERENCE = "#bbbbbb"
SLOW = "#c0392b"
#: Characters per line of a bar's label under the axis.
LABEL_WIDTH = 18


def _finish(fig: Figure) -> Figure:
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_cold_stages(stages: Mapping[str, float], title: str = "Where one cold request's time goes") -> Figure:
    """One bar per stage of a cold request, longest first in reading order."""
    names = [STAGE_TITLES.get(name, name) for name in stages]
    seconds = list(stages.values())
    fig, ax = plt.subplots(figsize=(8, 3.8))
    bars = ax.barh(names[::-1], seconds[::-1], color=OURS)
    ax.bar_label(bars, labels=[f"{s:.2f} s" for s in seconds[::-1]], padding=3)
    ax.set_xlabel("seconds")
    ax.set_xlim(0, max(seconds) * 1.25)
    ax.set_title(f"{title}: {sum(seconds):.1f} s in all")
    return _finish(fig)


def plot_requests(
    series: Mapping[str, Sequence[float]], original: OriginalFigures = ORIGINAL
) -> Figure:
    """Each request's seconds, one group of bars per way, with the original's 10–21 s as a band."""
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(1, len(series))
    colours = [OURS, SLOW, "#8e44ad", "#16a085"]
    for index, (label, seconds) in enumerate(series.items()):
        positions = [i + index * width for i in range(len(seconds))]
        bars = ax.bar(positions, seconds, width=width, label=label, color=colours[index % len(colours)],
                      zorder=2)
        ax.bar_label(bars, labels=[f"{s:.1f}" for s in seconds], padding=2, fontsize=8)
    low, high = original.before_s
    ax.axhspan(low, high, color=REFERENCE, alpha=0.35, zorder=1,
               label=f"original write-up: {low:g}–{high:g} s")
    longest = max(len(s) for s in series.values())
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(longest)],
                  [f"request {i + 1}" for i in range(longest)])
    ax.set_ylabel("seconds per request")
    ax.set_ylim(0, max(high, *(max(s) for s in series.values())) * 1.15)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("Every monolith request pays for the model")
    return _finish(fig)


def plot_server_stages(stage_ms: Mapping[str, float], title: str) -> Figure:
    """One stacked bar: where a request's milliseconds go, inside the server and outside it."""
    fig, ax = plt.subplots(figsize=(8, 2.8))
    left = 0.0
    colours = ["#95a5a6", "#f39c12", OURS, "#7f8c8d"]
    for index, (name, ms) in enumerate(stage_ms.items()):
        ax.barh([0], [ms], left=left, color=colours[index % len(colours)], label=f"{name}: {ms:.1f} ms")
        left += ms
    ax.set_yticks([])
    ax.set_xlabel("milliseconds (median over the requests)")
    ax.set_title(f"{title}: {left:.0f} ms in all")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.4), ncol=2, fontsize=8, frameon=False)
    return _finish(fig)


def plot_comparison(summaries: Sequence[Summary], original: OriginalFigures = ORIGINAL) -> Figure:
    """Median seconds per request for each way, whiskers from fastest to slowest, log scale.

    The original write-up's figures stand beside ours in grey.
    """
    labels = [textwrap.fill(s.label, LABEL_WIDTH) for s in summaries]
    medians = [s.median for s in summaries]
    errors = [[s.median - s.fastest for s in summaries], [s.slowest - s.median for s in summaries]]
    low, high = original.before_s
    reference_labels = [f"original: before\n({low:g}–{high:g} s)", f"original: after\n(~{original.after_s:g} s)"]
    reference_mid = [(low + high) / 2, original.after_s]
    reference_err = [[reference_mid[0] - low, 0], [high - reference_mid[0], 0]]

    fig, ax = plt.subplots(figsize=(9, 4.5))
    bars = ax.bar(labels, medians, yerr=errors, capsize=6, color=OURS, label="measured here (median)")
    ax.bar_label(bars, labels=[_seconds(m) for m in medians], padding=3)
    ref = ax.bar(reference_labels, reference_mid, yerr=reference_err, capsize=6, color=REFERENCE,
                 hatch="//", label="original write-up")
    ax.bar_label(ref, labels=[f"{low:g}–{high:g} s", f"{original.after_s:g} s"], padding=3)
    ax.set_yscale("log")
    ax.set_ylim(min(s.fastest for s in summaries) / 2, max(high, *(s.slowest for s in summaries)) * 4)
    ax.set_ylabel("seconds per request (log scale)")
    ax.set_title("One request, each way: median, with fastest and slowest")
    ax.tick_params(axis="x", labelsize=8)
    ax.legend(fontsize=8, loc="upper center")
    return _finish(fig)


def plot_speed_ups(speed_ups: Mapping[str, float], original: OriginalFigures = ORIGINAL) -> Figure:
    """How many times faster the split design answers, ours beside the original's."""
    labels = [textwrap.fill(label, LABEL_WIDTH) for label in [*speed_ups, "original write-up"]]
    values = [*speed_ups.values(), original.speed_up]
    colours = [OURS] * len(speed_ups) + [REFERENCE]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    bars = ax.bar(labels, values, color=colours)
    ax.bar_label(bars, labels=[f"{v:.0f}×" for v in values], padding=3)
    ax.set_ylabel("times faster")
    ax.set_ylim(0, max(values) * 1.2)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_title("Speed-up of the Flask app + model server")
    return _finish(fig)


def plot_throughput(rows: Sequence[Mapping[str, float]], x: str, y: str, group: str) -> Figure:
    """Lines of ``y`` against ``x``, one per value of ``group`` (notebook 07)."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for value in sorted({row[group] for row in rows}):
        points = sorted((row[x], row[y]) for row in rows if row[group] == value)
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=f"{group} = {value:g}")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend()
    return _finish(fig)


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.0f} ms"
