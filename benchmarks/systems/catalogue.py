"""Every row of the benchmark's table: a system's name, its numbers of clients and how to start it.

The names are the keys of ``results.json`` and what the report's ratios look rows up by.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from benchmarks.systems import launch
from benchmarks.systems.servers import OURS_SETTINGS, Servers
from model_server.protocol import BF16, F32, OPENVINO, TENSORFLOW

OURS = "our server, client"
#: The original write-up's design: its server (a thread per request, as ``solutions/resnet_model_server.py``
#: writes it) asked by its client (a DEALER per request, ``{"payload"}`` → ``{"preds"}``).
ORIGINAL = "original design (a thread per request, its client and format)"
#: What the original design row runs, for results.json.
ORIGINAL_DESIGN = {"server": "python -m solutions.resnet_model_server (a thread per request)",
                   "client": "harness.original_client (a DEALER per request, payload -> preds)"}
#: Our server cut down to one worker and no batching, in our base64 JSON: what our broker and a
#: single worker give, without the pool and the batches.
ONE_WORKER = "our server, 1 worker, no batching, base64 JSON"
BASE64_JSON = f"{OURS}, base64 JSON"
WAITRESS = "our server, web app (waitress)"
FLASK_SERVER = "our server, web app (Flask server)"
MODEL_IN_WEB_PROCESS = "model in the web process (waitress)"
MONOLITH = "monolith"
RAY_SERVE = "Ray Serve (@serve.batch), HTTP"
#: The suffix of a system whose client sends decoded pixels instead of the file.
PIXELS = ", pixels"
#: The pixels rows (and the bare model's batched limit) are measured at these numbers of clients.
PIXEL_LEVELS = (1, 8)


def openvino_system(precision: str) -> str:
    """The benchmark's name for our server through the client, on OpenVINO at ``precision``."""
    return f"{OURS}, OpenVINO {precision}"


@dataclass(frozen=True)
class System:
    """A row of the table: its name, its numbers of clients, and how to start it."""

    name: str
    levels: tuple[int, ...]
    start: Callable[[Servers], launch.MakeCall]
    #: Requests per burst, if not the run's (the monolith loads the model per request).
    requests: int | None = None
    #: What runs its model, and so which bare model it is measured against.
    runtime: str = TENSORFLOW
    precision: str = F32


def openvino_precisions() -> list[str]:
    """f32, and bf16 where OpenVINO says this CPU has it; none without the [openvino] extra."""
    if importlib.util.find_spec("openvino") is None:
        print("OpenVINO is not installed (pip install -e '.[openvino]'): its rows are left out")
        return []
    from model_server.models.openvino_model import BF16_CAPABILITY, cpu_capabilities, import_openvino

    if BF16_CAPABILITY in cpu_capabilities(import_openvino().Core()):
        return [F32, BF16]
    print("This CPU has no bf16 arithmetic (no AVX512_BF16 or AMX): the OpenVINO bf16 row is left out")
    return [F32]


def _openvino_calls(precision: str, decoded: Mapping[bytes, np.ndarray] | None = None
                    ) -> Callable[[Servers], launch.MakeCall]:
    """Calls through a client of our server on OpenVINO at ``precision``: the file, or the pixels."""
    return lambda servers: launch.client_calls(servers.client(OPENVINO, precision), decoded)


def compared_systems(levels: tuple[int, ...], decoded: Mapping[bytes, np.ndarray],
                     precisions: list[str]) -> list[System]:
    """Every system, at ``levels`` clients (the pixels rows at those of ``PIXEL_LEVELS``);
    ``decoded`` maps each image to its pixels; OpenVINO's rows at ``precisions``; Ray Serve's
    when it is installed."""
    pixel_levels = tuple(c for c in PIXEL_LEVELS if c in levels)
    chosen = [
        System(ORIGINAL, levels, lambda sv: sv.stack.enter_context(launch.original_design())),
        System(ONE_WORKER, levels, lambda sv: launch.client_calls(sv.client(one_worker=True, binary=False))),
        System(OURS, levels, lambda sv: launch.client_calls(sv.client())),
        System(BASE64_JSON, levels[:1], lambda sv: launch.client_calls(sv.client(binary=False))),
        System(OURS + PIXELS, pixel_levels, lambda sv: launch.client_calls(sv.client(), decoded)),
    ]
    for precision in precisions:
        name = openvino_system(precision)
        chosen += [
            System(name, levels, _openvino_calls(precision), runtime=OPENVINO, precision=precision),
            System(name + PIXELS, pixel_levels, _openvino_calls(precision, decoded),
                   runtime=OPENVINO, precision=precision),
        ]
    chosen += [
        System(WAITRESS, levels, lambda sv: launch.web_calls(sv.web("waitress"))),
        System(FLASK_SERVER, levels, lambda sv: launch.web_calls(sv.web("flask"))),
        System(MODEL_IN_WEB_PROCESS, levels, lambda sv: sv.stack.enter_context(launch.model_in_web_process())),
        System(MONOLITH, (1,), lambda sv: sv.stack.enter_context(launch.monolith()), requests=1),
    ]
    if importlib.util.find_spec("ray") is not None:
        chosen.append(System(RAY_SERVE, levels, lambda sv: sv.stack.enter_context(
            launch.ray_serve(OURS_SETTINGS["max_batch"]))))
    else:
        print("Ray Serve is not installed (pip install 'ray[serve]'): its rows are left out")
    return chosen
