"""Keep a long-lived ZeroMQ connection alive where the network forgets idle ones.

A web pod's sockets to the model server stay open for hours and may carry nothing at night.
kube-proxy in IPVS mode forgets an idle TCP connection after 900 s without telling either end, and
NATs and cloud load balancers do the same after minutes: the next request then goes into a
connection that no longer leads anywhere, and only the client's timeout finds out. ZMTP 3.1
heartbeats (PING and PONG, sent by libzmq itself) put a few bytes on the wire every interval, so
the connection is never idle for long, and a peer that stops answering is noticed and the
connection dropped (ZeroMQ then reconnects on its own).

The remote workers need none of this: they and the broker exchange heartbeats of their own every
``--heartbeat-interval-s`` (``serving.framing``).
"""

from __future__ import annotations

import zmq

#: Seconds between PINGs on an idle connection: far below the 900 s of IPVS, and of most NATs.
HEARTBEAT_INTERVAL_S = 60.0
#: A PING unanswered this many intervals drops the connection; the peer is told to drop it too
#: after as long without a PING (``ZMQ_HEARTBEAT_TTL``).
HEARTBEAT_LIVENESS = 3


def keep_alive(socket: zmq.Socket[bytes], interval_s: float = HEARTBEAT_INTERVAL_S) -> None:
    """Switch on ZMTP heartbeats for every connection ``socket`` makes; ``interval_s`` 0: off."""
    if interval_s <= 0:
        return
    interval_ms = max(1, round(interval_s * 1000))
    socket.setsockopt(zmq.HEARTBEAT_IVL, interval_ms)
    socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, interval_ms * HEARTBEAT_LIVENESS)
    # The TTL travels in deciseconds, 6553.5 s at most.
    socket.setsockopt(zmq.HEARTBEAT_TTL, min(interval_ms * HEARTBEAT_LIVENESS, 6_553_500))
