"""The peak of something read again and again while a measurement runs (a queue, threads, memory).

``PeakWatch(read, interval_s)`` calls ``read`` in a thread of its own every ``interval_s`` from the
start of its ``with`` block to its end and keeps the largest value seen of each figure ``read``
returns; ``first`` is what it read before the block began (the idle figures), unless the caller
gives the figures to start from. A ``read`` that raises one of ``skip`` (a server that did not
answer one probe) leaves that sample out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from types import TracebackType


class PeakWatch:
    """The largest value of each of ``read()``'s figures while the ``with`` block runs."""

    def __init__(self, read: Callable[[], Sequence[float]], interval_s: float, name: str = "peak-watch",
                 skip: tuple[type[BaseException], ...] = (), first: Sequence[float] | None = None):
        self._read = read
        self._skip = skip
        self.interval_s = interval_s
        self.first = tuple(read() if first is None else first)
        self.peaks = list(self.first)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=name, daemon=True)

    def _watch(self) -> None:
        while not self._stopping.wait(self.interval_s):
            try:
                values = self._read()
            except self._skip:
                continue
            self.peaks = [max(peak, value) for peak, value in zip(self.peaks, values, strict=True)]

    def __enter__(self) -> PeakWatch:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stopping.set()
        self._thread.join()
