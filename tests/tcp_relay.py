"""A loopback TCP relay that counts the bytes it passes and can freeze, for tests of what crosses a link.

Frozen, it keeps every connection open and throws away what it reads: the far end neither answers
nor hangs up, as when a network path is silently forgotten. ``client_closed`` tells when the connecting side
hung up.
"""

from __future__ import annotations

import selectors
import socket
import threading


class TcpRelay:
    """Listens on a free loopback port and relays each connection to ``target`` (host, port)."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.bytes_forwarded = 0
        self.frozen = threading.Event()
        self.client_closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._selector = selectors.DefaultSelector()
        self._thread = threading.Thread(target=self._run, name="tcp-relay", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _run(self) -> None:
        self._listener.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.05):
                if key.data is None:
                    self._accept()
                else:
                    self._pass(key.fileobj, *key.data)

    def _accept(self) -> None:
        client, _ = self._listener.accept()
        server = socket.create_connection(self.target)
        self._selector.register(client, selectors.EVENT_READ, (server, True))
        self._selector.register(server, selectors.EVENT_READ, (client, False))

    def _pass(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            data = source.recv(65536)
        except OSError:
            data = b""
        if not data:
            if from_client:
                self.client_closed.set()
            self._drop(source, sink)
            return
        if not self.frozen.is_set():
            self.bytes_forwarded += len(data)
            sink.sendall(data)

    def _drop(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()
        self._selector.close()
