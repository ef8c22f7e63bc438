"""What a run leaves in its folder: ``results.json`` (every round and every burst), the table as
``results.md`` and the plots; ``--report-only`` makes all but the JSON again from the JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.report import open_loop as open_loop_report
from benchmarks.report.plots import plot
from benchmarks.report.ratios import ratios
from benchmarks.report.tables import section_lines, table
from benchmarks.rounds.interleaved import bare_limits, system_rows
from harness.bare import bare_name
from model_server.protocol import BF16, F32, OPENVINO, TENSORFLOW

#: Where ``python -m benchmarks`` writes unless told (``--out``); the committed results.
RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """The table's rows, the bare limits and the ratios, from the rounds (again, for --report-only)."""
    records = results.get("rounds", [])
    if records:
        results["systems"] = system_rows(records)
        results["bare"] = bare_limits(records, bare_name(TENSORFLOW, F32))
        results["bare_openvino"] = {precision: bare_limits(records, bare_name(OPENVINO, precision))
                                    for precision in (F32, BF16)
                                    if any(bare_name(OPENVINO, precision) in r["bare"] for r in records)}
    results["ratios"] = ratios(results)
    return results


def write_report(results: dict[str, Any], out: Path) -> None:
    """``results.json``, ``results.md`` and ``results.png`` (and ``open_loop.png``) in ``out``."""
    (out / "results.json").write_text(json.dumps(results, indent=2))
    plot(results, out / "results.png")
    if "open_loop" in results:
        open_loop_report.plot(results["open_loop"], out / "open_loop.png")
    (out / "results.md").write_text(table(results))
    print(table(results))


def write_sections(results: dict[str, Any], out: Path) -> None:
    """Sections measured alone, with no rounds in ``out`` yet: the JSON, their tables as
    ``results.md`` and the open loop's plot."""
    (out / "results.json").write_text(json.dumps(results, indent=2))
    if "open_loop" in results:
        open_loop_report.plot(results["open_loop"], out / "open_loop.png")
    tables = "\n".join(section_lines(results)).lstrip("\n") + "\n"
    (out / "results.md").write_text(tables)
    print(tables)
