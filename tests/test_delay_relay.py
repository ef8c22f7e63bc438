"""The delay relay itself, on loopback: it relays bytes, and a bad command is answered, not fatal."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from fakes import free_port

RELAY = Path(__file__).resolve().parent / "delay_relay.py"
TIMEOUT_S = 30


def _echo_server(listener: socket.socket) -> None:
    connection, _ = listener.accept()
    with connection:
        while data := connection.recv(4096):
            connection.sendall(data)


@pytest.mark.timeout(60)
def test_a_line_that_is_not_a_number_is_refused_and_the_relay_keeps_relaying() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        threading.Thread(target=_echo_server, args=(listener,), daemon=True).start()
        port = free_port()
        relay = subprocess.Popen(
            [sys.executable, str(RELAY), "--listen", f"127.0.0.1:{port}",
             "--target", f"127.0.0.1:{listener.getsockname()[1]}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
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
            relay.wait(TIMEOUT_S)
