"""The client's side of CURVE: its keys, securing its socket, and hearing why a handshake failed.

A client (the web app, the test client, ``ModelClient``) or a remote worker holds its own key pair
and the model server's public key (``ClientKeys``), and calls ``secure_client_socket`` before it
connects. ``HandshakeWatch`` lets it tell "the server refused my key" from "nobody is there" at
once, instead of timing out. The server's side (the ZAP authenticator) is ``serving.security``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import zmq
from zmq.utils.monitor import recv_monitor_message

from .keys import (
    CLIENT_SECRET_KEY_VARIABLE,
    SERVER_PUBLIC_KEY_VARIABLE,
    KeyFileError,
    KeyPair,
    load_public_key,
)

#: Events a client's socket monitor reports: the outcome of each security handshake.
HANDSHAKE_EVENTS = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)


@dataclass(frozen=True)
class ClientKeys:
    """What a client or a worker needs: its own key pair and the public key of the server."""

    own: KeyPair
    server_public: bytes

    @classmethod
    def load(cls, secret_key_file: str | Path, server_public_key_file: str | Path) -> ClientKeys:
        return cls(KeyPair.load(secret_key_file), load_public_key(server_public_key_file))

    @classmethod
    def from_files(cls, secret_key_file: str | Path | None,
                   server_public_key_file: str | Path | None) -> ClientKeys | None:
        """Both files, or neither (no CURVE); one without the other is a ``KeyFileError``."""
        if not secret_key_file and not server_public_key_file:
            return None
        if not secret_key_file or not server_public_key_file:
            raise KeyFileError(
                "a CURVE client needs both its own secret key file and the server's public key"
                " file; only one was given"
            )
        return cls.load(secret_key_file, server_public_key_file)


def secure_client_socket(socket: zmq.Socket[bytes], keys: ClientKeys | None) -> None:
    """Make ``socket`` a CURVE client of the server ``keys`` trust; call before ``connect``."""
    if keys is None:
        return
    socket.curve_serverkey = keys.server_public
    socket.curve_publickey = keys.own.public
    socket.curve_secretkey = keys.own.secret


class HandshakeWatch:
    """Reports a failed security handshake on a client socket, to fail at once with the reason.

    ZeroMQ retries a refused connection quietly forever; its socket monitor is the only place
    that says the server refused our key, or that one side speaks CURVE and the other does not.
    A failure "with no detail" is also what a server stopping mid-handshake causes, so only
    ``NO_DETAIL_FAILURES`` of them in a row count.
    """

    NO_DETAIL_FAILURES = 2
    #: How a client is given its keys, for the message when it has none.
    CLIENT_KEYS_HINT = (f"give this client its secret key file and the server's public key "
                        f"({CLIENT_SECRET_KEY_VARIABLE}, {SERVER_PUBLIC_KEY_VARIABLE})")

    def __init__(self, socket: zmq.Socket[bytes], address: str, keys: ClientKeys | None,
                 keys_hint: str = CLIENT_KEYS_HINT):
        # A fresh name: libzmq frees a closed socket's monitor endpoint later, asynchronously.
        self._monitor = socket.get_monitor_socket(
            HANDSHAKE_EVENTS, f"inproc://handshake-watch-{uuid.uuid4().hex}"
        )
        self._address = address
        self._keys = keys
        self._keys_hint = keys_hint
        self._no_detail_failures = 0
        self.failure: str | None = None

    @property
    def socket(self) -> zmq.Socket[bytes]:
        """Readable (``POLLIN``) when a handshake has an outcome to report."""
        return self._monitor

    def check(self) -> str | None:
        """Read the outcomes so far; the reason of the last failure if no handshake succeeded since."""
        while self._monitor.poll(0):
            event = recv_monitor_message(self._monitor)["event"]
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._no_detail_failures, self.failure = 0, None
            elif event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
                self._no_detail_failures += 1
                if self._no_detail_failures >= self.NO_DETAIL_FAILURES:
                    self.failure = self._reason(event)
            else:
                self.failure = self._reason(event)
        return self.failure

    def _reason(self, event: int) -> str:
        where = f"the model server at {self._address}"
        if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            return (f"{where} refused our key: add our public key to its authorized keys"
                    " (read again at the next connection, no restart needed)")
        if self._keys is None:
            return f"{where} requires CURVE keys: {self._keys_hint}"
        return (f"the security handshake with {where} failed: it does not use CURVE, or the server"
                " public key we were given is not its key")

    def close(self) -> None:
        self._monitor.close(linger=0)
