"""The lab's plots, with matplotlib. Each function returns a finished ``Figure``.

Figures are closed before they are returned, so a notebook shows each one exactly once (as the
cell's result) and a test can make plots without a display.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from lab.latencies import Summary
from lab.monolith.cold_start import STAGE_TITLES
from lab.settings import ORIGINAL, OriginalFigures

if TYPE_CHECKING:
    from lab.nb08_going_further.load_levels import BareModel, LoadLevel
    from lab.nb09_appendix_wire_and_workers.wire_formats import WireFormatRun

OURS = "#3b6fb6"
REFERENCE = "#bbbbbb"
SLOW = "#c0392b"
#: Characters per line of a bar's label under the axis.
LABEL_WIDTH = 18
#: Notebook 08: one colour per server (one worker without batching first), one per number of clients.
_SERVER_COLOURS = [SLOW, OURS, "#16a085"]
_CLIENT_COLOURS = ["#a6bddb", "#3690c0", "#034e7b", "#8e44ad"]
#: The timeline's three parts of a request: before a worker took it, in the worker, in the model.
WAITING, IN_WORKER, FORWARD_PASS = "#dddddd", "#f39c12", OURS
#: Requests per client drawn on a timeline: enough to see the pattern, few enough to read it.
TIMELINE_REQUESTS = 6


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


def plot_under_load(levels: Sequence[LoadLevel]) -> Figure:
    """Images per second and median latency against the number of clients, one line per server."""
    fig, (throughput, latency) = plt.subplots(1, 2, figsize=(10, 3.8))
    servers = list(dict.fromkeys(level.server for level in levels))
    for index, server in enumerate(servers):
        mine = sorted((level for level in levels if level.server == server), key=lambda level: level.clients)
        clients = [level.clients for level in mine]
        style = {"marker": "o", "color": _SERVER_COLOURS[index % len(_SERVER_COLOURS)],
                 "label": textwrap.fill(server, 34)}
        throughput.plot(clients, [level.result.throughput for level in mine], **style)
        latency.plot(clients, [level.result.median_ms for level in mine], **style)
    for ax, title, unit in ((throughput, "Throughput", "images per second"),
                            (latency, "Median latency", "milliseconds")):
        ax.set_xlabel("clients sending at once")
        ax.set_xticks(sorted({level.clients for level in levels}))
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
        ax.set_title(title)
    throughput.legend(fontsize=8, loc="lower right")
    return _finish(fig)


def plot_batch_sizes(levels: Sequence[LoadLevel]) -> Figure:
    """For each number of clients, the share of requests answered in a batch of each size."""
    largest = max(size for level in levels for size in level.batches)
    sizes = list(range(1, largest + 1))
    fig, ax = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / len(levels)
    for index, level in enumerate(levels):
        total = sum(level.batches.values())
        shares = [100 * level.batches.get(size, 0) / total for size in sizes]
        ax.bar([size + (index - (len(levels) - 1) / 2) * width for size in sizes], shares, width=width,
               color=_CLIENT_COLOURS[index % len(_CLIENT_COLOURS)],
               label=f"{level.clients} client{'s' if level.clients > 1 else ''}: "
                     f"{level.mean_batch:.1f} on average")
    ax.set_xticks(sizes)
    ax.set_xlabel("images in the forward pass that answered the request (reply.batch)")
    ax.set_ylabel("% of requests")
    ax.set_title(f"Batch sizes seen by {levels[0].server.split(':')[0]}")
    ax.legend(fontsize=8)
    return _finish(fig)


def plot_against_limit(levels: Sequence[LoadLevel], bare: BareModel) -> Figure:
    """Throughput as a share of the bare model's best batched throughput, per server and clients."""
    servers = list(dict.fromkeys(level.server for level in levels))
    clients = sorted({level.clients for level in levels})
    width = 0.8 / len(servers)
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for index, server in enumerate(servers):
        by_clients = {level.clients: level for level in levels if level.server == server}
        positions = [i + (index - (len(servers) - 1) / 2) * width for i, c in enumerate(clients)
                     if c in by_clients]
        shares = [by_clients[c].result.throughput / bare.best_throughput for c in clients
                  if c in by_clients]
        bars = ax.bar(positions, shares, width=width, label=textwrap.fill(server, 30),
                      color=_SERVER_COLOURS[index % len(_SERVER_COLOURS)])
        ax.bar_label(bars, labels=[f"{s:.0%}" for s in shares], padding=2, fontsize=8)
    limit = f"bare model, batch {bare.best_batch}: {bare.best_throughput:.1f} images/s"
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label=textwrap.fill(limit, 30))
    single = f"bare model, batch 1: {bare.batch_one_throughput:.1f} images/s"
    ax.axhline(1 / bare.batching_gain, color="black", linestyle=":", linewidth=1,
               label=textwrap.fill(single, 30))
    ax.set_xticks(range(len(clients)), [f"{c} client{'s' if c > 1 else ''}" for c in clients])
    ax.set_ylabel("÷ the bare model's best throughput")
    highest = max(level.result.throughput for level in levels) / bare.best_throughput
    ax.set_ylim(0, max(1.0, highest) * 1.15)
    ax.set_title("How close each server gets to the model's own speed")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
    return _finish(fig)


def plot_timeline(levels: Sequence[LoadLevel], per_client: int = TIMELINE_REQUESTS) -> Figure:
    """Each client's requests as bars from send to reply, one panel per server, on one time axis.

    A bar is split by the server's own timings, placed at its end: grey until a worker took the
    request (queued behind other requests, or on the wire), orange in the worker (decoding,
    waiting for the model), blue the forward pass that answered it, labelled with its batch size
    when it was shared.
    """
    fig, axes = plt.subplots(len(levels), 1, figsize=(10, 1.2 + 1.0 * sum(level.clients for level in levels)),
                             sharex=True, squeeze=False)
    for ax, level in zip(axes[:, 0], levels):
        for client in range(level.clients):
            spans = [span for span in level.spans if span.client == client][:per_client]
            for span in spans:
                waited = span.sent_s + span.waiting_for_worker_s
                model_from = span.replied_s - span.forward_pass_s
                ax.barh(client, span.waiting_for_worker_s, left=span.sent_s, color=WAITING,
                        edgecolor="white", height=0.6)
                ax.barh(client, model_from - waited, left=waited, color=IN_WORKER, edgecolor="white", height=0.6)
                ax.barh(client, span.forward_pass_s, left=model_from, color=FORWARD_PASS, edgecolor="white",
                        height=0.6)
                if span.reply.batch > 1:
                    ax.text(model_from + span.forward_pass_s / 2, client, f"×{span.reply.batch}",
                            ha="center", va="center", color="white", fontsize=7)
        ax.set_yticks(range(level.clients), [f"client {c + 1}" for c in range(level.clients)])
        ax.invert_yaxis()
        ax.set_title(level.server, fontsize=10, loc="left")
    axes[-1, 0].set_xlabel(f"seconds since the first timed request (the first {per_client} requests of each client)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour) for colour in (WAITING, IN_WORKER, FORWARD_PASS)]
    fig.legend(handles, ["waiting for a worker (and the wire)", "in a worker: decoding, waiting for the model",
                         "the forward pass (×n: shared by n images)"],
               loc="lower center", ncol=3, fontsize=8, frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle("Who waited for whom: each request from send to reply")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    plt.close(fig)
    return fig


def plot_wire_formats(runs: Sequence[WireFormatRun]) -> Figure:
    """Median latency at one client per wire format, whiskers over the middle half of the requests."""
    labels = [textwrap.fill(f"{run.label} ({run.request_bytes / 1024:.0f} KiB)", 30) for run in runs]
    medians = [run.median_ms for run in runs]
    errors = [[run.median_ms - run.quartiles_ms[0] for run in runs],
              [run.quartiles_ms[1] - run.median_ms for run in runs]]
    fig, ax = plt.subplots(figsize=(8, 2.8))
    bars = ax.barh(labels, medians, xerr=errors, capsize=6,
                   color=[OURS if run.binary else SLOW for run in runs])
    ax.bar_label(bars, labels=[f"{m:.1f} ms" for m in medians], padding=8)
    ax.set_xlim(0, max(run.quartiles_ms[1] for run in runs) * 1.3)
    ax.set_xlabel("median ms per request at one client (whiskers: the middle half of the requests)")
    ax.invert_yaxis()
    ax.set_title("The same images, two wire formats")
    return _finish(fig)


def plot_answers_per_worker(phases: Mapping[str, Mapping[str, int]]) -> Figure:
    """Replies per worker process, one group of bars per phase (both running, one stopped)."""
    workers = list(dict.fromkeys(name for counts in phases.values() for name in counts))
    width = 0.8 / len(phases)
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for index, (phase, counts) in enumerate(phases.items()):
        values = [counts.get(worker, 0) for worker in workers]
        bars = ax.bar([i + (index - (len(phases) - 1) / 2) * width for i in range(len(workers))],
                      values, width=width, label=phase,
                      color=_CLIENT_COLOURS[index % len(_CLIENT_COLOURS)])
        ax.bar_label(bars, padding=2, fontsize=8)
    ax.set_xticks(range(len(workers)), workers)
    ax.set_ylabel("replies")
    ax.set_ylim(0, max(max(c.values(), default=0) for c in phases.values()) * 1.25 + 1)
    ax.set_title("Which worker process answered (reply.worker)")
    ax.legend(fontsize=8)
    return _finish(fig)


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.0f} ms"
