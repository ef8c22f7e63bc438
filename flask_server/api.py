"""What ``/api/predict`` answers, in both web apps: the one place that spells its JSON.

The split app and the monolith give the same fields, so a client (the notebooks' ``lab.web``, the
benchmarks) reads either the same way; the monolith adds ``load_timings``, the seconds it spent
getting a model ready for this one request. Errors have their own shape, in ``errors.py``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Response, jsonify

from model_server.protocol import PredictReply


def prediction_json(reply: PredictReply, round_trip_ms: float, **extra: Any) -> Response:
    """``predictions``, ``weights``, ``model``, ``runtime`` and ``precision``, the server's
    ``timings`` (ms) and ``round_trip_ms``."""
    return jsonify(
        predictions=[asdict(p) for p in reply.predictions], weights=reply.weights, model=reply.model,
        runtime=reply.runtime, precision=reply.precision,
        timings=asdict(reply.timings) if reply.timings else None, round_trip_ms=round_trip_ms, **extra,
    )
