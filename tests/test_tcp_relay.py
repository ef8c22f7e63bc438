"""The TCP relay itself, on loopback: it relays, delays each way, counts, freezes, and as a process
answers a bad command without dying."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.processes import free_port
from tcp_relay import TcpRelay

RELAY = Path(__file__).resolve().parent / "tcp_relay.py"
TIMEOUT_S = 30
#: The relay's delay in the timing test: far above a loopback round trip on a loaded machine.
DELAY_MS = 150

pytestmark = pytest.mark.timeout(60)


def _echo_server(listener: socket.socket) -> None:
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:  # the listener was closed: the test is over
            return
        with connection:
            while data := connection.recv(4096):
                connection.sendall(data)


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    """A loopback echo server's (host, port)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        threading.Thread(target=_echo_server, args=(listener,), daemon=True).start()
        yield listener.getsockname()


@pytest.fixture
def relay(echo) -> Iterator[TcpRelay]:
    relay = TcpRelay(echo)
    yield relay
    relay.close()


def _connect(relay: TcpRelay) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", relay.port), timeout=TIMEOUT_S)
    client.settimeout(TIMEOUT_S)
    return client


def test_the_relay_passes_bytes_both_ways_and_counts_them(relay):
    with _connect(relay) as client:
        client.sendall(b"hello")
        assert client.recv(4096) == b"hello"
    assert relay.bytes_forwarded == 10


def test_a_delay_is_added_each_way(relay):
    with _connect(relay) as client:
        client.sendall(b"warm")
        assert client.recv(4096) == b"warm"
        relay.set_delay(DELAY_MS)
        started = time.perf_counter()
        client.sendall(b"late")
        assert client.recv(4096) == b"late"
        elapsed_ms = (time.perf_counter() - started) * 1000
    assert elapsed_ms >= 2 * DELAY_MS


def test_a_frozen_relay_passes_nothing_and_sees_the_client_hang_up(relay):
    with _connect(relay) as client:
        client.sendall(b"before")
        assert client.recv(4096) == b"before"
        relay.frozen.set()
        client.sendall(b"lost")
        client.settimeout(0.5)
        with pytest.raises(TimeoutError):
            client.recv(4096)
        assert not relay.client_closed.is_set()
    assert relay.client_closed.wait(TIMEOUT_S)
    assert relay.bytes_forwarded == 2 * len(b"before")


def test_a_line_that_is_not_a_number_is_refused_and_the_relay_process_keeps_relaying(echo) -> None:
    port = free_port()
    with subprocess.Popen(
        [sys.executable, str(RELAY), "--listen", f"127.0.0.1:{port}", "--target", f"127.0.0.1:{echo[1]}"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    ) as relay:  # its end closes the pipes and waits for the process
        try:
            assert relay.stdout is not None and relay.stdin is not None
            assert relay.stdout.readline().strip() == "listening"
            relay.stdin.write("fast\n5\n")
            relay.stdin.flush()
            assert relay.stdout.readline().strip() == "not a delay in milliseconds: 'fast'"
            assert relay.stdout.readline().strip() == "ok"
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as client:
                client.settimeout(TIMEOUT_S)
                client.sendall(b"still relaying")
                assert client.recv(4096) == b"still relaying"
            assert relay.poll() is None
        finally:
            relay.kill()
