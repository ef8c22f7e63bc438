"""``python -m benchmarks.sections.curve_encryption``: what CURVE encryption and authentication cost per request.

The client sends real photo-sized JPEGs to a ZeroMQ ROUTER in this process that answers at
once, so the round trip is the transport alone: without keys, and with CURVE keys made by
``keygen`` and checked by the same ZAP handler the model server uses. Also timed: a fresh client's
first request, which pays for the connection and its handshake. Prints milliseconds and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import zmq

from harness.sample_images import photo_jpegs
from harness.stubs import ScriptedRouter
from model_server.client import ModelClient
from model_server.curve import ClientKeys
from model_server.keys import KeyPair, keygen, load_authorized_keys
from model_server.protocol import Prediction, PredictReply, Timings, decode_request, encode_reply
from model_server.serving.security import (
    CLIENTS_DOMAIN,
    ServerKeys,
    secure_server_socket,
    start_authenticator,
)

REQUESTS = 300
REPEATS = 5
FRESH_CLIENTS = 50


def instant_reply(request: list[bytes]) -> bytes:
    """The same small reply to every request, at once: the round trip is the transport alone."""
    decoded = decode_request(request[0], request[1] if len(request) == 2 else None)
    return encode_reply(PredictReply([Prediction("tabby", "n02123045", 1.0)], "none", "instant",
                                     Timings(0, 0, 0, 0), decoded.id))


def instant_server(context: zmq.Context, keys: ServerKeys | None) -> ScriptedRouter:
    """A ROUTER in a thread answering ``instant_reply``, a CURVE server if given ``keys``."""
    return ScriptedRouter(instant_reply, context=context, remember=False, name="instant-router",
                          configure=lambda socket: secure_server_socket(socket, keys, CLIENTS_DOMAIN))


def _run(client: ModelClient, image: bytes, requests: int) -> float:
    """Milliseconds per request, ``requests`` in a row."""
    started = time.perf_counter()
    for _ in range(requests):
        client.predict(image)
    return (time.perf_counter() - started) / requests * 1000


def _first_request(address: str, keys: ClientKeys | None, image: bytes) -> float:
    started = time.perf_counter()
    with ModelClient(address, keys=keys) as fresh:
        fresh.predict(image)
    return (time.perf_counter() - started) * 1000


def measure(targets: dict[str, tuple[str, ClientKeys | None]], image: bytes) -> dict[str, dict[str, float]]:
    """Median per-request time of each target, their runs interleaved so that other load on the
    machine falls on all of them alike."""
    clients = {name: ModelClient(address, keys=keys) for name, (address, keys) in targets.items()}
    runs: dict[str, list[float]] = {name: [] for name in targets}
    firsts: dict[str, list[float]] = {name: [] for name in targets}
    try:
        for client in clients.values():
            _run(client, image, REQUESTS // 10)
        for _ in range(REPEATS):
            for name, client in clients.items():
                runs[name].append(_run(client, image, REQUESTS))
        for _ in range(FRESH_CLIENTS):
            for name, (address, keys) in targets.items():
                firsts[name].append(_first_request(address, keys, image))
    finally:
        for client in clients.values():
            client.close()
    return {name: {"round_trip_ms": statistics.median(runs[name]),
                   "first_request_ms": statistics.median(firsts[name])} for name in targets}


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m benchmarks.sections.curve_encryption", description=__doc__).parse_args(argv)
    image = photo_jpegs(1)[0]
    context = zmq.Context()
    with tempfile.TemporaryDirectory() as tmp:
        keys = keygen(Path(tmp) / "keys", ["client"], [])
        server_keys = ServerKeys(KeyPair.load(keys.server_secret), load_authorized_keys(keys.clients),
                                 frozenset())
        client_keys = ClientKeys.load(keys.client_secret(), keys.server_public)
        authenticator = start_authenticator(context, server_keys)
        try:
            with instant_server(context, None) as plain_server, \
                    instant_server(context, server_keys) as curve_server:
                results = measure({"no keys": (plain_server.address, None),
                                   "CURVE": (curve_server.address, client_keys)}, image)
        finally:
            authenticator.stop()
    context.term()
    print(f"{len(image) / 1024:.0f} KiB JPEG: median of {REPEATS} runs of {REQUESTS} requests, "
          f"and of {FRESH_CLIENTS} fresh clients' first requests, interleaved")
    for name, result in results.items():
        print(f"  {name:8} round trip {result['round_trip_ms']:.3f} ms, "
              f"fresh client's first request {result['first_request_ms']:.2f} ms")
    plain, curve = results["no keys"], results["CURVE"]
    print(f"  CURVE / no keys: round trip ×{curve['round_trip_ms'] / plain['round_trip_ms']:.2f}, "
          f"first request ×{curve['first_request_ms'] / plain['first_request_ms']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
