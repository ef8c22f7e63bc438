"""Whether a process is live (it works) and ready (it can take work now): its probes.

Live means no restart is needed. A process is not live when

- a forward pass or an image decode given up as hung (``--hang-timeout-s``) is still stuck: the
  supervisor answered its requests and serves on with a new thread, but a thread cannot be
  killed, and the stuck one holds its memory, maybe a core and maybe the runtime's locks until a
  new process gives them back. Once every stuck thread has returned, the process is live again.
- its loop stalled: the broker's loop has not come round for ``LOOP_STALL_S`` (2 s; it comes
  round at least every poll interval, 0.1 s), or a remote worker's link to the broker for
  ``LOOP_STALL_S`` plus one heartbeat interval (it comes round at least once an interval, also
  while it waits to reconnect).

Ready means a model is loaded and the path to it is open: for the model server, a worker can
take work (its own threads, or a remote worker that joined a ``--workers 0`` broker) and it is
not stopping; for a remote worker, its broker was heard from within the heartbeat liveness window.

The probes run on the HTTP endpoints' threads. They read only what the other threads publish:
the broker answers on its own thread (``Broker.on_its_thread``), the link and the loop watches
publish single values, the batcher counts under its lock.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from ..protocol import ServerStats
from .broker import Broker
from .health import LoopWatch, Verdict
from .metrics import BrokerCollector
from .remote_worker import BrokerLink
from .settings import POLL_INTERVAL_MS, ServerSettings
from .worker_pool import WorkerPool

#: How long a probe waits for the broker's thread to answer: ten of its turns.
BROKER_ANSWER_TIMEOUT_S = 10 * POLL_INTERVAL_MS / 1000


def _stuck(pool: WorkerPool | None, settings: ServerSettings) -> str | None:
    if pool is None:
        return None
    forward_passes, decodes = pool.still_stuck()
    stuck = [f"{forward_passes} forward pass(es)" if forward_passes else "",
             f"{decodes} image decode(s)" if decodes else ""]
    if not any(stuck):
        return None
    return (f"{' and '.join(filter(None, stuck))} given up as hung (--hang-timeout-s "
            f"{settings.hang_timeout_s:g}) still stuck: a new process gives back what they hold")


def _live(pool: WorkerPool | None, settings: ServerSettings, loop: LoopWatch) -> Verdict:
    reasons = [reason for reason in (_stuck(pool, settings), loop.stalled()) if reason]
    return Verdict(False, "; ".join(reasons)) if reasons else Verdict(True, "live")


class ServerProbes:
    """The probes of ``python -m model_server``: its broker, and its worker threads if any."""

    def __init__(self, settings: ServerSettings, pool: WorkerPool | None, registry: CollectorRegistry):
        self.registry = registry
        self._settings = settings
        self._pool = pool
        #: The broker, once the server's sockets are bound (``ModelServer.bind``).
        self.broker: Broker | None = None
        registry.register(BrokerCollector(self.broker_stats))

    def broker_stats(self) -> ServerStats | None:
        """The broker's stats, computed on its thread; ``None`` if it is not there or stalled."""
        broker = self.broker
        if broker is None or broker.loop.stalled():
            return None
        return broker.on_its_thread(broker.stats, BROKER_ANSWER_TIMEOUT_S)

    def live(self) -> Verdict:
        broker = self.broker
        if broker is None:
            return Verdict(True, "live: the broker is starting")
        return _live(self._pool, self._settings, broker.loop)

    def ready(self) -> Verdict:
        broker = self.broker
        if broker is None:
            return Verdict(False, "the broker is not running yet")
        stalled = broker.loop.stalled()
        if stalled:
            return Verdict(False, stalled)
        verdict = broker.on_its_thread(broker.readiness, BROKER_ANSWER_TIMEOUT_S)
        return verdict or Verdict(False, f"the broker did not answer within {BROKER_ANSWER_TIMEOUT_S:g} s")


class RemoteWorkerProbes:
    """The probes of ``python -m model_server worker``: its worker threads and its broker link."""

    def __init__(self, settings: ServerSettings, pool: WorkerPool, link: BrokerLink,
                 registry: CollectorRegistry):
        self.registry = registry
        self._settings = settings
        self._pool = pool
        self._link = link

    def live(self) -> Verdict:
        return _live(self._pool, self._settings, self._link.loop)

    def ready(self) -> Verdict:
        if self._link.stopping:
            return Verdict(False, "stopping: this worker takes no new requests")
        stalled = self._link.loop.stalled()
        if stalled:
            return Verdict(False, stalled)
        if not self._link.broker_connected():
            return Verdict(False, f"no heartbeat from the broker at {self._link.broker_address} "
                                  f"within {self._link.broker_timeout_s:g} s")
        return Verdict(True, f"ready: the broker at {self._link.broker_address} is connected")
