"""Markdown tables, one way: every table of the benchmark's report is built here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> list[str]:
    """The lines of a Markdown table; ``align`` has a letter per column, ``r`` for right-aligned
    (numbers), anything else (or none) for left."""
    rules = ["---:" if align[index:index + 1] == "r" else "---" for index in range(len(header))]
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(rules) + " |",
            *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)]


def markdown(rows: Sequence[Mapping[str, object]]) -> str:
    """``rows`` (each a mapping of the same columns) as a Markdown table."""
    return "\n".join(markdown_table(list(rows[0]), [list(row.values()) for row in rows]))
