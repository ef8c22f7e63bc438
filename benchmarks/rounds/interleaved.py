"""Every system in the same rounds: short bursts in rotating order, round after round.

On a shared machine, two blocks measured minutes apart meet different machines; a ratio of two
such blocks says as much about the machine as about the systems. Here all systems are started
once. Each round runs, for each number of clients, one short burst of every system and of the
bare model, the order rotating from round to round (``turns.in_turn``), so that whatever the
machine does in a minute it does to all of them. A ratio is computed within each round and
reported as the median over rounds, with its min–max: the spread says how far to trust it.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from benchmarks.rounds.turns import in_turn
from harness.stats import spread


@dataclass(frozen=True)
class Entry:
    """One burst of a round: a system (or a bare model, ``bare=True``) at one number of clients.

    ``run`` measures and returns the burst's figures: a ``LoadResult`` dict for a system, the
    bare model's ``limits`` for a bare one.
    """

    name: str
    clients: int
    run: Callable[[], dict]
    bare: bool = False


def run_rounds(entries: Sequence[Entry], rounds: int,
               progress: Callable[[str], None] | None = None) -> list[dict]:
    """``rounds`` rounds of every entry; each round's record keeps the order it ran in.

    Within a round the entries run by number of clients (fewest first), and within each number
    in an order that rotates by one place per round.
    """
    blocks: dict[int, list[Entry]] = {}
    for entry in sorted(entries, key=lambda e: e.clients):
        blocks.setdefault(entry.clients, []).append(entry)
    records = []
    for index in range(rounds):
        record: dict = {"round": index, "order": [], "bare": {}, "systems": {}}
        for clients, block in blocks.items():
            for entry in in_turn(block, index):
                figures = entry.run()
                record["order"].append([entry.name, clients])
                if entry.bare:
                    _merge_bare(record["bare"].setdefault(entry.name, {}), figures)
                else:
                    record["systems"].setdefault(entry.name, {})[str(clients)] = figures
                if progress:
                    progress(f"round {index + 1}/{rounds}, {clients} client(s): {entry.name}: "
                             f"{_headline(figures)}")
        records.append(record)
    return records


def _merge_bare(into: dict, figures: Mapping) -> None:
    """A bare model measured twice in a round (latency, then batches): keep both, batches joined."""
    batches = {**into.get("batches", {}), **{str(k): v for k, v in figures.get("batches", {}).items()}}
    into.update(figures)
    into["batches"] = batches


def _headline(figures: Mapping) -> str:
    if "throughput" in figures:
        return f"median {figures['median_ms']} ms, {figures['throughput']} img/s"
    return ", ".join(f"{key} {figures[key]}" for key in ("latency_ms", "best_throughput") if key in figures)


def system_rows(records: Sequence[dict]) -> dict[str, dict[str, dict]]:
    """Name → clients → the median over rounds of each figure, with min–max of the main two."""
    runs: dict[str, dict[str, list[dict]]] = {}
    for record in records:
        for name, levels in record["systems"].items():
            for clients, figures in levels.items():
                runs.setdefault(name, {}).setdefault(clients, []).append(figures)
    rows: dict[str, dict[str, dict]] = {}

    def median(bursts: Sequence[dict], key: str) -> float:
        return round(statistics.median(burst[key] for burst in bursts), 2)

    for name, levels in runs.items():
        for clients, bursts in levels.items():
            throughput = spread([burst["throughput"] for burst in bursts], 2)
            latency = spread([burst["median_ms"] for burst in bursts], 2)
            rows.setdefault(name, {})[clients] = {
                "concurrency": int(clients), "rounds": len(bursts),
                "requests": sum(burst["requests"] for burst in bursts),
                "errors": sum(burst["errors"] for burst in bursts),
                "median_ms": latency["median"], "p95_ms": median(bursts, "p95_ms"),
                "p99_ms": median(bursts, "p99_ms"), "throughput": throughput["median"],
                "throughput_min": throughput["min"], "throughput_max": throughput["max"],
                "median_ms_min": latency["min"], "median_ms_max": latency["max"],
                "cpu_ms_per_request": _median_cpu(bursts),
            }
    return rows


def _median_cpu(bursts: Sequence[dict]) -> dict[str, float]:
    """Per process, the median over rounds of its CPU ms per request (0 in a round it was idle)."""
    names = dict.fromkeys(name for burst in bursts for name in burst.get("cpu_ms_per_request", {}))
    return {name: round(statistics.median(burst.get("cpu_ms_per_request", {}).get(name, 0.0)
                                           for burst in bursts), 2) for name in names}


def bare_limits(records: Sequence[dict], name: str) -> dict:
    """A bare model's limits over rounds: medians, the min–max of latency and best throughput,
    and the batch size that was best most often."""
    mine = [record["bare"][name] for record in records if name in record["bare"]]
    out: dict = {"rounds": len(mine)}
    for key in ("latency_ms", "best_throughput", "decode_ms"):
        values = [limits[key] for limits in mine if key in limits]
        if values:
            over_rounds = spread(values, 2)
            out[key] = over_rounds["median"]
            out[f"{key}_min"], out[f"{key}_max"] = over_rounds["min"], over_rounds["max"]
    best = [limits["best_batch"] for limits in mine if "best_throughput" in limits]
    if best:
        out["best_batch"] = Counter(best).most_common(1)[0][0]
    return out


def ratios_over_rounds(records: Sequence[dict], per_round: Callable[[dict], dict]) -> dict[str, dict]:
    """``per_round`` applied to each round's record alone; per figure, the median over rounds
    with min–max. A figure a round lacks is left out of that round."""
    values: dict[str, list[float]] = {}
    for record in records:
        for key, value in per_round(record).items():
            values.setdefault(key, []).append(value)
    return {key: spread(found) for key, found in values.items()}
