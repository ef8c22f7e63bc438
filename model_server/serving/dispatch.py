"""Which worker gets the next request: the cheapest one with room, priced by its recent round trips.

Peak-EWMA, as Finagle's ``PeakEwma`` balancer and Envoy's peak-EWMA load balancer price a host:
each worker keeps an exponentially weighted moving average of its round trips (from the broker's
dispatch to the reply), which jumps at once to any round trip above it (the peak) and otherwise
moves towards new ones with a weight that depends on the time since the last (``DECAY_S``). The
cost of one more request for a worker is that average × (the requests it holds + 1), divided by
its capacity. The cheapest worker with room gets the request; equal costs go to the least
loaded for its capacity, then to the one that was sent work longest ago.

Without new round trips the average decays towards zero, as if the worker had answered at once
(Finagle's ``get()`` is an observation of 0), so a worker that was slow once is tried again
after about ``DECAY_S × ln(its average / the others')``, and one that got fast again is found.
A worker with no round trip yet (a new one) is priced at the lowest average of the others: it
is tried as soon as it is as lightly loaded as the best of them.

Why: with a remote worker 100 ms further away than another (a relay adding 50 ms each way), the
least-loaded rule alone alternated between the two, though the near one was idle, and a lone
client's median went from 164 to 298 ms.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

#: The rules the broker can choose workers by (``--dispatch``).
PEAK_EWMA = "peak-ewma"
LEAST_LOADED = "least-loaded"
DISPATCH_RULES = (PEAK_EWMA, LEAST_LOADED)
#: Seconds in which an unrefreshed round-trip average falls to 1/e of itself (Finagle's default).
DECAY_S = 10.0


@dataclass
class RoundTrips:
    """A worker's peak-EWMA of its round trips, in seconds; ``None`` before its first reply."""

    average_s: float | None = None
    #: When ``average_s`` was last updated (``time.monotonic()``).
    updated: float = 0.0

    def observe(self, round_trip_s: float, now: float) -> None:
        if self.average_s is None or round_trip_s > self.average_s:
            self.average_s = round_trip_s
        else:
            weight = math.exp(-max(now - self.updated, 0.0) / DECAY_S)
            self.average_s = self.average_s * weight + round_trip_s * (1.0 - weight)
        self.updated = now

    def current(self, now: float) -> float | None:
        """The average decayed to ``now``, as if a round trip of 0 had been observed."""
        if self.average_s is None:
            return None
        return self.average_s * math.exp(-max(now - self.updated, 0.0) / DECAY_S)


class Candidate(Protocol):
    """What the choice reads of a worker (``broker.Worker``)."""

    capacity: int
    held: set[bytes]
    last_sent: float
    round_trips: RoundTrips

    def has_room(self) -> bool: ...


#: The broker's own worker type: the choice returns one of the workers it was given.
W = TypeVar("W", bound=Candidate)


def choose_worker(workers: Iterable[W], now: float, rule: str = PEAK_EWMA) -> W | None:
    """The worker to send the next request to, or ``None`` while none has room (it waits)."""
    candidates = [worker for worker in workers if worker.has_room()]
    if not candidates:
        return None
    if rule == LEAST_LOADED:
        return min(candidates, key=lambda w: (len(w.held) / w.capacity, w.last_sent))
    averages = {id(w): w.round_trips.current(now) for w in candidates}
    known = [average for average in averages.values() if average is not None]
    untried = min(known, default=0.0)

    def cost(worker: W) -> tuple[float, float, float]:
        average = averages[id(worker)]
        load = len(worker.held) / worker.capacity
        price = (untried if average is None else average) * (len(worker.held) + 1) / worker.capacity
        return price, load, worker.last_sent

    return min(candidates, key=cost)
