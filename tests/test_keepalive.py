"""An idle ModelClient connection is kept alive, and a silently dead one is noticed.

Through a loopback relay to the session's real model server: with heartbeats, bytes cross an idle
connection; without them, none do. When the relay freezes (the path is forgotten, neither end is
told), the client drops the connection by itself after its heartbeats go unanswered.
"""

from __future__ import annotations

import time

import pytest

from model_server.client import ModelClient
from model_server.keepalive import HEARTBEAT_LIVENESS
from tcp_relay import TcpRelay

#: A short heartbeat for the test (the default is a minute).
HEARTBEAT_S = 0.2
#: How long the connection sits idle while the relay counts.
IDLE_S = 2.0


@pytest.fixture
def relay(model_server):
    host, port = model_server.address.removeprefix("tcp://").rsplit(":", 1)
    relay = TcpRelay((host, int(port)))
    yield relay
    relay.close()


def bytes_while_idle(relay: TcpRelay, heartbeat_s: float) -> int:
    with ModelClient(relay.address, heartbeat_s=heartbeat_s, timeout=30) as client:
        client.ping()  # connects, then the socket waits in the client's pool
        before = relay.bytes_forwarded
        time.sleep(IDLE_S)
        return relay.bytes_forwarded - before


def test_an_idle_connection_carries_heartbeats(relay):
    assert bytes_while_idle(relay, HEARTBEAT_S) > 0


def test_without_heartbeats_an_idle_connection_carries_nothing(relay):
    assert bytes_while_idle(relay, 0) == 0


def test_a_connection_whose_path_went_silent_is_dropped_by_the_client(relay):
    with ModelClient(relay.address, heartbeat_s=HEARTBEAT_S, timeout=30) as client:
        client.ping()
        relay.frozen.set()
        # Unanswered for HEARTBEAT_LIVENESS intervals, then closed; allow ten times as long.
        limit_s = 10 * HEARTBEAT_S * HEARTBEAT_LIVENESS
        assert relay.client_closed.wait(limit_s), f"the client kept a dead connection past {limit_s} s"
