"""One change at a time (notebook 08): the production model server, the same clients, one flag moved.

Section 2 of notebook 08 sets our server as it runs by default beside itself cut down to one
worker without batching, and the two differ in three ways at once (workers, batching, wire
format). Here each step changes one of them, so that each difference in the numbers has one
cause: 1 worker without batching, then 2 workers, then batching on; always two frames on the wire
and the same number of clients sending at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness import launch
from harness.load import ClosedLoop
from model_server.serving.settings import flags

from .load_levels import LoadLevel, under_load

#: Clients sending at once in every step: the fewest that can make one wait for the other.
CLIENTS = 2


@dataclass(frozen=True)
class Setup:
    """One configuration of ``python -m model_server``; ``change`` says what differs from the last."""

    name: str
    change: str
    workers: int
    max_batch: int

    def extra_args(self) -> tuple[str, ...]:
        """The flags beyond ``--workers`` (which ``start_model_server`` passes itself)."""
        return tuple(flags(max_batch=self.max_batch))


ONE_WORKER = Setup("1 worker, no batching", "the starting point", workers=1, max_batch=1)
TWO_WORKERS = Setup("2 workers, no batching", "a second worker thread", workers=2, max_batch=1)
BATCHING = Setup("2 workers, batches of up to 8", "batching on (--max-batch 8)", workers=2, max_batch=8)
STEPS = (ONE_WORKER, TWO_WORKERS, BATCHING)


def measure(setup: Setup, weights: str, images: Sequence[bytes], clients: int = CLIENTS,
            requests: int | None = None, closed_loop: ClosedLoop | None = None,
            address: str | None = None) -> LoadLevel:
    """Put ``clients`` on a model server as ``setup`` says (with the learner's ``closed_loop`` if
    given); its ``LoadLevel``. ``address``: such a server already running (the notebook's one
    worker without batching), else one is started and stopped here."""
    if address is None:
        with launch.start_model_server(weights, workers=setup.workers, extra_args=setup.extra_args(),
                                          name="one-change") as server:
            return measure(setup, weights, images, clients, requests, closed_loop, server.address)
    (level,) = under_load(setup.name, address, images, levels=(clients,), requests=requests,
                          closed_loop=closed_loop)
    return level


def step_rows(levels: Sequence[LoadLevel], setups: Sequence[Setup] = STEPS) -> list[dict[str, object]]:
    """One row per step: what changed and what it did to throughput, latency and batch sizes."""
    rows, previous = [], None
    for setup, level in zip(setups, levels):
        throughput = level.result.throughput
        rows.append({
            "server": setup.name,
            "what changed": setup.change,
            "images per second": throughput,
            "× the step before": "" if previous is None else round(throughput / previous, 2),
            "median (ms)": level.result.median_ms,
            "images per forward pass": round(level.mean_batch, 1),
        })
        previous = throughput
    return rows
