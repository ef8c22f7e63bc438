"""Between the broker's TCP backend and remote worker processes (the zguide's Paranoid Pirate).

Every message starts with one of the command frames below; work carries the broker's ticket and
the request's budget (the milliseconds left: relative, because the clocks of other machines
differ) ahead of the client's own frames (``model_server.protocol``). In-process worker threads
get the same ``[ticket, budget, *request frames]`` without a command.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field

from ..protocol import RequestError, load_object

#: worker → broker, on connecting: ``[READY, hello]``.
WORKER_READY = b"READY"
#: both ways, every heartbeat interval: ``[HEARTBEAT]`` from the broker, ``[HEARTBEAT, hello]``
#: from a worker (so a broker that restarted learns the worker from its next heartbeat).
WORKER_HEARTBEAT = b"HEARTBEAT"
#: broker → worker: ``[WORK, ticket, budget, *request frames]``.
WORKER_WORK = b"WORK"
#: worker → broker: ``[REPLY, ticket, reply frame]``.
WORKER_REPLY = b"REPLY"
#: worker → broker: it is stopping; send it nothing more (it still answers what it holds).
WORKER_DISCONNECT = b"DISCONNECT"


#: Drawn once per process: ``host:pid`` alone is not unique (two containers on the host's network
#: are both pid 1 on one hostname), so the broker tells worker processes apart by this as well.
THIS_PROCESS = secrets.token_hex(8)


@dataclass(frozen=True)
class WorkerHello:
    """How a remote worker process introduces itself in READY and heartbeats."""

    worker: str
    #: Requests it takes at once (its worker threads).
    capacity: int
    #: Its forward passes so far by number of images, for the broker's stats.
    batch_sizes: dict[int, int] = field(default_factory=dict)
    #: Which process this is (``THIS_PROCESS``): the same after it reconnects, new after a restart.
    instance: str = THIS_PROCESS


def encode_worker_hello(hello: WorkerHello) -> bytes:
    return json.dumps({"worker": hello.worker, "instance": hello.instance, "capacity": hello.capacity,
                       "batch_sizes": {str(k): v for k, v in hello.batch_sizes.items()}}).encode()


def decode_worker_hello(frame: bytes) -> WorkerHello:
    """Raises ``ValueError`` for a frame that is not a worker's hello."""
    try:
        message = load_object(frame, "worker hello")
    except RequestError as error:
        raise ValueError(error.message) from None
    capacity = message.get("capacity")
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"a worker's capacity must be a whole number of at least 1, not {capacity!r}")
    try:
        batch_sizes = {int(k): int(v) for k, v in message.get("batch_sizes", {}).items()}
    except (AttributeError, TypeError, ValueError):
        raise ValueError("a worker's batch_sizes must map sizes to counts") from None
    return WorkerHello(str(message.get("worker", "?")), capacity, batch_sizes,
                       str(message.get("instance", "")))


def encode_budget(milliseconds: float) -> bytes:
    """The time left for a request, as the broker passes it to a worker (relative: clocks differ)."""
    return str(max(0, int(milliseconds))).encode()


def decode_budget(frame: bytes) -> float:
    """Milliseconds left; raises ``ValueError`` for a frame that is not a budget."""
    return float(int(frame))
