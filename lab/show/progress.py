"""Progress bars for measurements that take more than a few seconds.

``measuring(items, "cold processes")`` iterates over ``items`` as they are, and in a notebook also
shows a bar saying what is being measured and how long is left, so a learner knows the cell is
working. Outside a notebook (tests, the shell) it is quiet unless asked for with ``progress=True``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter kernel (where a bar can be drawn as a widget)."""
    shell = sys.modules.get("IPython")
    get_ipython = getattr(shell, "get_ipython", None)
    return get_ipython is not None and type(get_ipython()).__name__ == "ZMQInteractiveShell"


def measuring(items: Iterable[Item], what: str, total: int | None = None,
              progress: bool | None = None) -> Iterator[Item]:
    """``items``, with a bar titled ``what`` when ``progress`` is true (``None``: in a notebook only)."""
    if progress is None:
        progress = in_notebook()
    if not progress:
        yield from items
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:  # the bar is a convenience: measure without it
        yield from items
        return
    with tqdm(items, desc=f"measuring {what}", total=total, unit="run", leave=False) as bar:
        yield from bar
