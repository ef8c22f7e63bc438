"""TensorFlow → OpenVINO: the same model, server and load, on the other runtime (notebook 08).

OpenVINO is an optional extra (``pip install -e '.[openvino]'``); without it, ``run_openvino``
says how to install it and returns ``None`` instead of failing the notebook.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass

from model_server.protocol import F32, OPENVINO
from model_server.serving.settings import flags

from . import concurrency, processes
from .concurrency import BareModel, LoadLevel

OPENVINO_SERVER = "our server on OpenVINO f32: 8 workers, batches of up to 8"


@dataclass(frozen=True)
class RuntimeRun:
    """One runtime measured the notebook's way: its bare limit, our server under load, its start."""

    runtime: str
    bare: BareModel
    levels: Sequence[LoadLevel]
    #: Seconds from starting the model server to its first answer.
    ready_s: float | None


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


def run_openvino(weights: str, images: Sequence[bytes], precision: str = F32) -> RuntimeRun | None:
    """The bare model and our server (started, loaded, stopped) on OpenVINO at ``precision``.

    The bare measurement runs first, so it converts the model into the IR cache if needed and the
    server's start shows a start from the cache.
    """
    if not openvino_installed():
        print("OpenVINO is not installed: pip install -e '.[openvino]' and run this cell again.")
        return None
    bare = concurrency.measure_bare_model(runtime=OPENVINO, precision=precision)
    server = processes.start_model_server(
        weights, extra_args=flags(runtime=OPENVINO, precision=precision), name="openvino-server")
    try:
        levels = concurrency.under_load(OPENVINO_SERVER, server.address, images)
    finally:
        server.stop()
    return RuntimeRun(f"{OPENVINO} {precision}", bare, levels, server.ready_seconds)


def side_by_side(runs: Sequence[RuntimeRun | None]) -> list[dict[str, object]]:
    """One row per runtime measured (``None``, a runtime not installed, is left out): its bare
    limit, our server at one and at the most clients, and its start."""
    rows = []
    for run in filter(None, runs):
        one, most = run.levels[0], run.levels[-1]
        rows.append({
            "runtime": run.runtime,
            "bare batch 1 (ms)": run.bare.latency_ms,
            "bare best (img/s)": run.bare.best_throughput,
            "server, 1 client: median (ms)": one.result.median_ms,
            "… − bare batch 1 (ms)": round(one.result.median_ms - run.bare.latency_ms, 1),
            f"server, {most.clients} clients (img/s)": most.result.throughput,
            "… ÷ own bare best": round(most.result.throughput / run.bare.best_throughput, 2),
            "start to ready (s)": None if run.ready_s is None else round(run.ready_s, 1),
        })
    return rows
