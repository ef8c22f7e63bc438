"""What probes answer, and the watch that tells a loop that stalled (see ``probes``).

``Verdict`` is the answer of ``/livez`` or ``/readyz``; ``Probes`` is what a process hands its
HTTP endpoints (``Starting`` while it loads its model). A ``LoopWatch`` is told by a loop's thread
each time the loop comes round, and read by the probes' threads: a single value written by one
thread, so no lock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry

from .settings import LOOP_STALL_S


@dataclass(frozen=True)
class Verdict:
    """What a probe answers: whether all is well, and why (the body of the reply)."""

    ok: bool
    reason: str


class Probes(Protocol):
    """What a process tells through its HTTP endpoints (``http_endpoints``)."""

    registry: CollectorRegistry

    def live(self) -> Verdict: ...

    def ready(self) -> Verdict: ...


class Starting:
    """The probes of a process loading its model: live, not ready, no metrics yet."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()

    def live(self) -> Verdict:
        return Verdict(True, "starting: loading the model")

    def ready(self) -> Verdict:
        return Verdict(False, "starting: loading the model")


class LoopWatch:
    """When a loop last came round: written by the loop's thread, read by the probes.

    ``bound_s``: silent for longer, the loop counts as stalled.
    """

    def __init__(self, what: str, bound_s: float = LOOP_STALL_S):
        self.what = what
        self.bound_s = bound_s
        self._last: float | None = None
        self._ended = False

    def came_round(self) -> None:
        self._last = time.monotonic()

    def ended(self) -> None:
        self._ended = True

    @property
    def has_ended(self) -> bool:
        return self._ended

    def stalled(self) -> str | None:
        """Why the loop counts as stalled, or ``None``; a loop not started yet or ended is not."""
        last = self._last
        if last is None or self._ended:
            return None
        silent_s = time.monotonic() - last
        if silent_s <= self.bound_s:
            return None
        return f"{self.what} has not come round for {silent_s:.1f} s (the bound is {self.bound_s:g} s)"
