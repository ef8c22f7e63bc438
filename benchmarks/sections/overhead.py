"""What serving adds to one request, measured in pairs: the bare model and the servers take turns.

Measuring each system in its own block (all bare runs, then all server runs) mixes the serving
overhead with the drift of a shared machine between blocks: two bare runs of one benchmark here
differed by 21 ms, more than the overhead being judged. So each round times one bare batch-1
forward pass (in a probe process that holds its own model), one request through ``ModelClient``,
one through the web app over HTTP as a multipart form (what a browser sends) and one with the image
as the request's body, in rotating order, and the overhead is the median of the per-round
differences. The server's own timings split each request into decoding, queueing,
inference and the rest (the wire, JSON, the client).

Run ``python -m benchmarks.sections.overhead``; prints JSON. The probe is ``harness.bare``'s
``BareModelProcess`` (``python -m harness.bare --serve``), which keeps its model loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import requests

from benchmarks.rounds.turns import in_turn
from benchmarks.systems.launch import REQUEST_TIMEOUT_S, succeeded
from harness.bare import BareModelProcess
from harness.http import post_image
from harness.launch import start_model_server, start_web_app
from harness.sample_images import photo_jpegs
from harness.stats import quartiles
from model_server.client import ModelClient
from model_server.serving.settings import flags

ROUNDS = 60
#: Rounds run first and thrown away: the first requests of a fresh process are slow.
WARMUP_ROUNDS = 5
#: Pause between two timed calls, so that one system's threads are idle when the next one runs.
PAUSE_S = 0.03
SERVER_SETTINGS = tuple(flags(max_batch=8))


@dataclass(frozen=True)
class Round:
    """One round's milliseconds: the bare pass, the two requests, and the server's own split."""

    bare: float
    client: float
    web: float
    web_raw: float
    server_total: float
    server_inference: float
    server_decode: float
    server_queue: float


def _timed(call: Callable[[], object]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = call()
    return (time.perf_counter() - began) * 1000, result


def measure_rounds(
    probe: BareModelProcess, client: ModelClient, web_url: str, images: list[bytes], rounds: int,
) -> list[Round]:
    """``rounds`` rounds of (bare, client, web) in rotating order, after a few thrown away."""
    session = requests.Session()
    measured = []
    for index in range(-WARMUP_ROUNDS, rounds):
        figures: dict[str, tuple[float, Any]] = {}
        steps = _steps(probe, client, session, web_url, images[index % len(images)])
        for name in in_turn(list(steps), index):
            figures[name] = steps[name]()
            time.sleep(PAUSE_S)
        if index < 0:
            continue
        (bare, _), (client_ms, reply) = figures["bare"], figures["client"]
        measured.append(Round(
            bare=bare, client=client_ms, web=figures["web"][0], web_raw=figures["web_raw"][0],
            server_total=reply.timings.total,
            server_inference=reply.timings.inference, server_decode=reply.timings.decode,
            server_queue=reply.timings.queue,
        ))
    return measured



def _steps(
    probe: BareModelProcess, client: ModelClient, session: requests.Session, web_url: str, image: bytes,
) -> dict[str, Callable[[], tuple[float, Any]]]:
    """One round's measurements of ``image``, by name: each returns (milliseconds, reply or None)."""
    return {
        "bare": lambda: (probe.forward_ms(), None),
        "client": lambda: _timed(lambda: client.predict(image)),
        "web": lambda: _timed(lambda: succeeded(post_image(
            web_url, image, REQUEST_TIMEOUT_S, filename="photo.jpg", content_type="image/jpeg",
            session=session))),
        "web_raw": lambda: _timed(lambda: succeeded(post_image(
            web_url, image, REQUEST_TIMEOUT_S, content_type="image/jpeg", raw=True, session=session))),
    }


def summarize(rounds: list[Round]) -> dict:
    """Medians of each system and of the per-round differences that the targets are stated in."""
    def column(pick: Callable[[Round], float]) -> dict[str, float]:
        return quartiles([pick(r) for r in rounds])

    return {
        "rounds": len(rounds),
        "bare_ms": column(lambda r: r.bare),
        "client_ms": column(lambda r: r.client),
        "web_ms": column(lambda r: r.web),
        "web_raw_body_ms": column(lambda r: r.web_raw),
        "client_minus_bare_ms": column(lambda r: r.client - r.bare),
        "web_minus_bare_ms": column(lambda r: r.web - r.bare),
        "web_raw_body_minus_bare_ms": column(lambda r: r.web_raw - r.bare),
        "server_inference_minus_bare_ms": column(lambda r: r.server_inference - r.bare),
        "server_decode_ms": column(lambda r: r.server_decode),
        "server_queue_ms": column(lambda r: r.server_queue),
        "wire_and_client_ms": column(lambda r: r.client - r.server_total),
        "every_round": [asdict(r) for r in rounds],
    }


@contextlib.contextmanager
def _servers() -> Iterator[tuple[ModelClient, str]]:
    with start_model_server("random", extra_args=SERVER_SETTINGS, name="overhead-model") as model, \
            start_web_app(model.address, name="overhead-web", wsgi_server="waitress") as web, \
            ModelClient(model.address, timeout=REQUEST_TIMEOUT_S, retries=0) as client:
        yield client, f"{web.address}/api/predict"


def measure(rounds: int = ROUNDS) -> dict:
    """Start the probe, our model server and the web app (waitress); measure; stop them all."""
    images = photo_jpegs()
    with BareModelProcess() as probe, _servers() as (client, web_url):
        return summarize(measure_rounds(probe, client, web_url, images, rounds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sections.overhead", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="timed rounds (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.rounds < 4:
        parser.error("--rounds must be at least 4 (quartiles need them)")
    summary = measure(args.rounds)
    json.dump({k: v for k, v in summary.items() if k != "every_round"}, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
