"""``/livez``, ``/readyz`` and ``/metrics`` of one process over plain HTTP, for an orchestrator.

    kubelet, compose, Prometheus ──http──▶ HttpEndpoints (own threads) ──read──▶ Probes

The model server and each remote worker serve them on ``--http-address`` (off when empty). They
run on threads of their own (``ThreadingHTTPServer``, a thread per request), never on the
broker's: the probes read what the broker and the workers publish (``probes``), so a slow
scrape cannot hold up a request, nor a stuck broker a probe. They carry no secret and take no
input, so they may listen beyond loopback (``0.0.0.0`` in a pod) without CURVE keys.

- ``GET /livez``: 200 while the process works; 503 and the reason when it needs a restart
  (a forward pass or a decode hung, a loop stalled).
- ``GET /readyz``: 200 when it can take work now; 503 and the reason otherwise (loading the
  model, no worker joined, no broker heard from, stopping).
- ``GET /metrics``: Prometheus' text format, from the process's own registry.
"""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .health import Probes, Verdict
from .settings import http_host_and_port

log = logging.getLogger(__name__)

LIVEZ, READYZ, METRICS = "/livez", "/readyz", "/metrics"
#: Seconds a connection may stay silent before its thread gives it up.
CONNECTION_TIMEOUT_S = 10.0
#: How often the server's thread checks whether it should stop.
SHUTDOWN_POLL_S = 0.1
PLAIN_TEXT = "text/plain; charset=utf-8"


class HttpEndpointsUnavailable(RuntimeError):
    """The endpoints could not listen; the message says where and why."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], probes: Probes):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.probes = probes
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = CONNECTION_TIMEOUT_S

    def do_GET(self) -> None:
        probes = self.server.probes
        path = self.path.split("?", 1)[0]
        if path == METRICS:
            try:
                body = generate_latest(probes.registry)
            except Exception as error:  # a collector failed: say so rather than drop the connection
                log.exception("collecting the metrics failed")
                self._send(500, f"collecting the metrics failed: {error}\n".encode(), PLAIN_TEXT)
                return
            self._send(200, body, CONTENT_TYPE_LATEST)
        elif path in (LIVEZ, READYZ):
            try:
                verdict = probes.live() if path == LIVEZ else probes.ready()
            except Exception as error:  # a probe that cannot tell is a failed probe, not a silent one
                log.exception("the %s probe failed", path)
                verdict = Verdict(False, f"the probe failed: {error}")
            self._send(200 if verdict.ok else 503, f"{verdict.reason}\n".encode(), PLAIN_TEXT)
        else:
            self._send(404, f"no such path; try {LIVEZ}, {READYZ} or {METRICS}\n".encode(), PLAIN_TEXT)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)  # not one INFO line per probe


class HttpEndpoints:
    """Serves ``probes`` at ``address`` (``HOST:PORT``) until ``stop``; ``probes`` may be swapped
    (``Starting`` while the model loads, then the process's own)."""

    def __init__(self, address: str, probes: Probes):
        host, port = http_host_and_port(address)
        try:
            self._server = _Server((host, port), probes)
        except OSError as error:
            raise HttpEndpointsUnavailable(
                f"cannot serve {LIVEZ}, {READYZ} and {METRICS} on {address}: {error.strerror}"
                " (is another process listening there?)") from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_S},
            name="http-endpoints", daemon=True)
        self._thread.start()

    @property
    def probes(self) -> Probes:
        return self._server.probes

    @probes.setter
    def probes(self, probes: Probes) -> None:
        self._server.probes = probes

    @property
    def url(self) -> str:
        """Where it listens, the port chosen by the system included (``HOST:0``)."""
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host  # typeshed allows bytes; TCP gives str
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=1)
