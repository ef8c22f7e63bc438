"""Seconds from starting a model server to its first answered ping, for each way of loading it.

TensorFlow builds the Keras model at every start; OpenVINO converts it once (an empty cache) and
afterwards reads the converted IR without importing TensorFlow.
"""

from __future__ import annotations

import tempfile

from benchmarks.systems.launch import runtime_args
from harness.launch import start_model_server
from model_server.protocol import F32, OPENVINO


def seconds_to_ready(extra_args: tuple[str, ...] = (), name: str = "bench-startup") -> float:
    """Start ``python -m model_server`` (untrained weights), wait for its ping, stop it."""
    with start_model_server("random", extra_args=extra_args, name=name) as server:
        assert server.ready_seconds is not None
        return round(server.ready_seconds, 2)


def start_to_ready(precision: str = F32) -> dict[str, float]:
    """TensorFlow, OpenVINO converting into an empty cache, then OpenVINO from that cache."""
    with tempfile.TemporaryDirectory(prefix="openvino-ir-") as cache:
        openvino = (*runtime_args(OPENVINO, precision), "--openvino-cache", cache)
        return {
            "tensorflow": seconds_to_ready(),
            f"openvino {precision}, converting": seconds_to_ready(openvino),
            f"openvino {precision}, cached IR": seconds_to_ready(openvino),
        }
