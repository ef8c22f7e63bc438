"""Whose turn is first: systems measured in the same round take turns at going first.

On a shared machine, whatever runs first in a round meets a different machine (caches, other
load) from whatever follows; rotating the order spreads that over every system equally.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def in_turn(items: Sequence[T], round_index: int) -> list[T]:
    """``items`` starting from the ``round_index``-th (modulo their number), wrapping around."""
    start = round_index % len(items)
    return [*items[start:], *items[:start]]
