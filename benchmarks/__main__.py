"""``python -m benchmarks``: every way of serving ResNet50, the same images, one machine, one run.

Rows: the bare model (the limit), the original design (the write-up's server, a thread per
request, asked by its own client in its own format), our model server cut down to one worker and
no batching, our model server (through the client with the file, as base64 JSON and as decoded
pixels, and through the web app under waitress and under Flask's own server), the model as a
global inside the web process, the monolith and, when installed, Ray Serve; with the [openvino]
extra, our server on OpenVINO f32 (and bf16 where the CPU has it), the file and the pixels, each
against its own bare limit.

Every system is started once and measured in interleaved rounds (``interleaved.py``): per round,
for each number of clients, one short burst of each system and of each bare model, in an order
that rotates from round to round. Each ratio is computed within a round; the report gives the
median over rounds and its min–max. Then, on the same servers: one request at a time in pairs
with the bare model (``overhead.py``) and the image sizes (``image_sizes.py``); then, on servers
of their own, the broker with big requests (``broker_header.py``), the open loop (``open_loop.py``)
and each runtime's start to ready. ``--only`` picks systems and sections by words of their names;
sections alone (``--only broker "open loop"``) are stored beside what an earlier run left in
``--out``'s results.json.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from harness.bare import BareModelProcess, bare_name
from harness.load import run_load
from harness.processes import ServerProcess, running_servers
from harness.sample_images import photo_jpegs
from model_server.client import ModelClient
from model_server.images import decode_image
from model_server.protocol import BF16, F32, OPENVINO, TENSORFLOW

from . import broker_header, cpu, image_sizes, open_loop, open_loop_report, overhead, systems
from .interleaved import Entry, bare_limits, run_rounds, system_rows
from .report import (
    ONE_WORKER,
    ORIGINAL,
    OURS,
    PIXELS,
    RAY_SERVE,
    WAITRESS,
    openvino_system,
    plot,
    ratios,
    table,
)
from .startup import start_to_ready

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CONCURRENCY = (1, 4, 8, 16)
#: The pixels rows (and the bare model's batched limit) are measured at these numbers of clients.
PIXEL_LEVELS = (1, 8)
ROUNDS = 5
#: Requests per burst; at many clients at least ``PER_CLIENT`` each.
REQUESTS = 32
PER_CLIENT = 3
OURS_SETTINGS = {"workers": 8, "max_batch": 8}
ONE_WORKER_SETTINGS = {"workers": 1, "max_batch": 1, "binary": False}
#: What the original design row runs, for results.json.
ORIGINAL_DESIGN = {"server": "python -m solutions.resnet_model_server (a thread per request)",
                   "client": "harness.original_client (a DEALER per request, payload -> preds)"}
#: The bare model per round: batch 1 (``repeats`` passes) in the 1-client block, and the batched
#: limit in the 8-client block (fewer passes of the larger batches).
BARE_LATENCY = {"batch_sizes": [1], "repeats": 7}
BARE_BATCHED = {"batch_sizes": [4, 8, 16], "repeats": 4}
#: Sections, for ``--only``.
OPEN_LOOP = "open loop"
IMAGE_SIZES = "image sizes"
OVERHEAD = "overhead"
BROKER = "broker"


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


class Servers:
    """The servers of a run, each started the first time a system asks for it, all stopped at the end."""

    def __init__(self, stack: contextlib.ExitStack):
        self.stack = stack
        self._models: dict[str, ServerProcess] = {}
        self._webs: dict[str, ServerProcess] = {}
        self._bare: dict[str, BareModelProcess] = {}

    def model(self, runtime: str = TENSORFLOW, precision: str = F32, one_worker: bool = False) -> ServerProcess:
        key = "one worker" if one_worker else f"{runtime} {precision}"
        if key not in self._models:
            settings = ONE_WORKER_SETTINGS if one_worker else OURS_SETTINGS
            extra = () if runtime == TENSORFLOW else systems.runtime_args(runtime, precision)
            self._models[key] = self.stack.enter_context(systems.model_server(
                settings["workers"], settings["max_batch"], extra,
                name="bench-one-worker" if one_worker else f"bench-{runtime}-{precision}"))
        return self._models[key]

    def client(self, runtime: str = TENSORFLOW, precision: str = F32, one_worker: bool = False,
               binary: bool = True) -> ModelClient:
        """A client of one of the run's model servers, closed at the end of the run."""
        return self.stack.enter_context(systems.model_client(self.model(runtime, precision, one_worker), binary))

    def web(self, wsgi_server: str, runtime: str = TENSORFLOW, precision: str = F32) -> ServerProcess:
        """The web app under ``wsgi_server``, in front of our model server on ``runtime``."""
        key = f"{wsgi_server} {runtime} {precision}"
        if key not in self._webs:
            name = f"bench-web-{wsgi_server}" + ("" if runtime == TENSORFLOW else f"-{runtime}-{precision}")
            self._webs[key] = self.stack.enter_context(
                systems.web_app(self.model(runtime, precision), wsgi_server, name))
        return self._webs[key]

    def bare(self, runtime: str = TENSORFLOW, precision: str = F32) -> BareModelProcess:
        name = bare_name(runtime, precision)
        if name not in self._bare:
            self._bare[name] = self.stack.enter_context(BareModelProcess(runtime, precision))
        return self._bare[name]

    @property
    def bare_models(self) -> list[BareModelProcess]:
        return list(self._bare.values())


@dataclass(frozen=True)
class System:
    """A row of the table: its name, its numbers of clients, and how to start it."""

    name: str
    levels: tuple[int, ...]
    start: Callable[[Servers], systems.MakeCall]
    #: Requests per burst, if not ``REQUESTS`` (the monolith loads the model per request).
    requests: int | None = None
    #: What runs its model, and so which bare model it is measured against.
    runtime: str = TENSORFLOW
    precision: str = F32


def _systems(levels: tuple[int, ...], decoded: dict[bytes, object], precisions: list[str]) -> list[System]:
    pixel_levels = tuple(c for c in PIXEL_LEVELS if c in levels)
    chosen = [
        System(ORIGINAL, levels, lambda sv: sv.stack.enter_context(systems.original_design())),
        System(ONE_WORKER, levels, lambda sv: systems.client_calls(sv.client(one_worker=True, binary=False))),
        System(OURS, levels, lambda sv: systems.client_calls(sv.client())),
        System(f"{OURS}, base64 JSON", levels[:1], lambda sv: systems.client_calls(sv.client(binary=False))),
        System(OURS + PIXELS, pixel_levels, lambda sv: systems.client_calls(sv.client(), decoded)),
    ]
    for precision in precisions:
        name = openvino_system(precision)
        chosen += [
            System(name, levels, lambda sv, p=precision: systems.client_calls(sv.client(OPENVINO, p)),
                   runtime=OPENVINO, precision=precision),
            System(name + PIXELS, pixel_levels,
                   lambda sv, p=precision: systems.client_calls(sv.client(OPENVINO, p), decoded),
                   runtime=OPENVINO, precision=precision),
        ]
    chosen += [
        System(WAITRESS, levels, lambda sv: systems.web_calls(sv.web("waitress"))),
        System("our server, web app (Flask server)", levels, lambda sv: systems.web_calls(sv.web("flask"))),
        System("model in the web process (waitress)", levels,
               lambda sv: sv.stack.enter_context(systems.model_in_web_process())),
        System("monolith", (1,), lambda sv: sv.stack.enter_context(systems.monolith()), requests=1),
    ]
    if importlib.util.find_spec("ray") is not None:
        chosen.append(System(RAY_SERVE, levels, lambda sv: sv.stack.enter_context(
            systems.ray_serve(OURS_SETTINGS["max_batch"]))))
    else:
        print("Ray Serve is not installed (pip install 'ray[serve]'): its rows are left out")
    return chosen


#: The name, in ``cpu_ms_per_request``, of this process: the load generator and the clients.
LOAD_GENERATOR = "load generator (this process)"


def _burst(make_call: systems.MakeCall, images: list[bytes], clients: int, requests: int,
           warmup: int) -> dict:
    """One closed-loop burst, with the CPU each server process (and this one) spent per request."""
    processes = {server.name: psutil.Process(server.pid) for server in running_servers()}
    before, own = cpu.snapshot(processes), time.process_time()
    figures = run_load(make_call, images, clients, requests, warmup=warmup).as_dict()
    sent = figures["requests"] + warmup * clients
    figures["cpu_ms_per_request"] = cpu.per_request_ms(
        {**before, LOAD_GENERATOR: own}, {**cpu.snapshot(processes), LOAD_GENERATOR: time.process_time()},
        sent)
    return figures


def _entries(chosen: list[System], calls: dict[str, systems.MakeCall], servers: Servers,
             images: list[bytes], requests: int, warm_up: bool = False) -> list[Entry]:
    """A burst per system and number of clients, and the bare models' per round; ``warm_up``
    makes each burst two requests per client."""
    entries = []
    for system in chosen:
        for clients in system.levels:
            count = system.requests or (2 * clients if warm_up else max(requests, PER_CLIENT * clients))
            entries.append(Entry(system.name, clients, lambda make_call=calls[system.name], c=clients, n=count,
                                 w=0 if system.requests else 1: _burst(make_call, images, c, n, w)))
    # TensorFlow's bare model always: the report's limit line and the TensorFlow ratios read it.
    for runtime, precision in dict.fromkeys(
            [(TENSORFLOW, F32), *((system.runtime, system.precision) for system in chosen)]):
        bare = servers.bare(runtime, precision)
        entries += [Entry(bare.name, 1, lambda bare=bare: bare.limits(**BARE_LATENCY), bare=True),
                    Entry(bare.name, 8, lambda bare=bare: bare.limits(**BARE_BATCHED), bare=True)]
    return entries


def _footprint(processes: list[tuple[str, int, float | None]]) -> dict[str, dict[str, float]]:
    """Seconds from start to ready, and memory (RSS of the process and its children), per process."""
    footprint = {}
    for name, pid, ready in processes:
        process = psutil.Process(pid)
        rss = sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
        footprint[name] = {"ready_s": round(ready or 0.0, 2), "memory_mb": round(rss / 2**20, 1)}
    return footprint


def _wanted(name: str, only: list[str] | None) -> bool:
    return not only or any(word in name for word in only)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="interleaved rounds (default: %(default)s)")
    parser.add_argument("--requests", type=int, default=REQUESTS,
                        help=f"requests per burst; at least {PER_CLIENT} per client (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="one round, 1 and 8 clients, short bursts, no overhead pairs: a smoke test")
    parser.add_argument("--only", nargs="*",
                        help="run only systems and sections (overhead, image sizes, broker, open loop) "
                             "whose name contains one of these words; sections alone keep what --out "
                             "holds of the rest")
    parser.add_argument("--overhead-rounds", type=int, default=overhead.ROUNDS,
                        help="rounds of the paired overhead measurement; 0 skips it")
    parser.add_argument("--image-size-rounds", type=int, default=image_sizes.ROUNDS,
                        help="rounds of the image sizes section; 0 skips it")
    open_loop.add_arguments(parser)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--report-only", action="store_true",
                        help="only redo the table, ratios and plot from --out's results.json")
    args = parser.parse_args(argv)
    if args.report_only:
        results = json.loads((args.out / "results.json").read_text())
        write_report(summarize(results), args.out)
        return 0
    rounds, requests = (1, 8) if args.quick else (args.rounds, args.requests)
    levels = PIXEL_LEVELS if args.quick else CONCURRENCY
    images = photo_jpegs()
    decoded = {image: decode_image(image) for image in images}
    precisions = openvino_precisions()
    chosen = [system for system in _systems(levels, decoded, precisions) if _wanted(system.name, args.only)]
    path = args.out / "results.json"
    if chosen:
        results: dict = {
            "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                        "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M")},
            "settings": {"ours": OURS_SETTINGS, "original": ORIGINAL_DESIGN, "one_worker": ONE_WORKER_SETTINGS,
                         "rounds": rounds,
                         "requests": requests, "per_client": PER_CLIENT, "bare_latency": BARE_LATENCY,
                         "bare_batched": BARE_BATCHED, "image": "640x480 JPEG"},
        }
    else:  # sections alone: what an earlier run left in --out is kept, these sections replaced
        results = json.loads(path.read_text()) if path.exists() else {}
    with contextlib.ExitStack() as stack:
        servers = Servers(stack)
        if chosen:
            results.update(interleaved_rounds(chosen, servers, images, rounds, requests))
        if args.overhead_rounds and not args.quick and _wanted(OVERHEAD, args.only):
            print("one request at a time, in pairs with the bare model …", flush=True)
            results["overhead"] = overhead.summarize(overhead.measure_rounds(
                servers.bare(), servers.client(), systems.predict_url(servers.web("waitress")), images,
                args.overhead_rounds))
        if args.image_size_rounds and _wanted(IMAGE_SIZES, args.only):
            results["image_sizes"] = measure_image_sizes(
                servers, precisions, 1 if args.quick else args.image_size_rounds,
                requests if args.quick else image_sizes.REQUESTS)
    if not args.quick and _wanted(BROKER, args.only):
        print("the broker with big requests in the original's format …", flush=True)
        results["broker"] = broker_header.measure()
    if args.open_loop_seconds > 0 and _wanted(OPEN_LOOP, args.only):
        print("open loop: Poisson arrivals from a quarter to twice the capacity …", flush=True)
        results["open_loop"] = open_loop.measure(**open_loop.section_options(args))
    for precision in dict.fromkeys(s.precision for s in chosen if s.runtime == OPENVINO):
        print(f"start to ready, TensorFlow and OpenVINO {precision} …", flush=True)
        results.setdefault("start_to_ready", {}).update(start_to_ready(precision))
    args.out.mkdir(parents=True, exist_ok=True)
    if "bare" in results or "rounds" in results:
        write_report(summarize(results), args.out)
    else:  # nothing but standalone sections measured here yet: their own report only
        path.write_text(json.dumps(results, indent=2))
        if "open_loop" in results:
            open_loop_report.plot(results["open_loop"], args.out / "open_loop.png")
            print(open_loop_report.table(results["open_loop"]))
    return 0


def interleaved_rounds(chosen: list[System], servers: Servers, images: list[bytes], rounds: int,
                       requests: int) -> dict:
    """Start every chosen system, warm each up, then measure them all in interleaved rounds."""
    calls = {}
    for system in chosen:
        print(f"starting {system.name} …", flush=True)
        calls[system.name] = system.start(servers)
    print("warming up every system …", flush=True)
    run_rounds(_entries(chosen, calls, servers, images, requests, warm_up=True), 1)
    entries = _entries(chosen, calls, servers, images, requests)
    print(f"{rounds} interleaved rounds …", flush=True)
    measured = {"rounds": run_rounds(entries, rounds, progress=lambda line: print(line, flush=True))}
    measured["footprints"] = _footprint(
        [(s.name, s.pid, s.ready_seconds) for s in running_servers()]
        + [(b.name, b.pid, None) for b in servers.bare_models])
    return measured


def measure_image_sizes(servers: Servers, precisions: list[str], rounds: int, requests: int) -> dict:
    """The image sizes on TensorFlow and on the fastest OpenVINO precision, on the run's servers."""
    out = {}
    for runtime, precision in [(TENSORFLOW, F32), *([(OPENVINO, precisions[-1])] if precisions else [])]:
        print(f"image sizes on {runtime} {precision} …", flush=True)
        server, images = servers.model(runtime, precision), image_sizes.workload()
        web = servers.web("waitress", runtime, precision)
        bursts = image_sizes.measure(server.address, server.pid, images, rounds, requests=requests,
                                     progress=lambda line: print(" ", line, flush=True),
                                     web=(systems.predict_url(web), web.pid))
        out[f"{runtime} {precision}"] = {
            "rounds_run": rounds, "file_bytes": {name: [len(f) for f in files] for name, files in images.items()},
            "rounds": [vars(burst) for burst in bursts], "summary": image_sizes.summary(bursts)}
    return out


def summarize(results: dict) -> dict:
    """The table's rows, the bare limits and the ratios, from the rounds (again, for --report-only)."""
    records = results.get("rounds", [])
    if records:
        results["systems"] = system_rows(records)
        results["bare"] = bare_limits(records, bare_name(TENSORFLOW, F32))
        results["bare_openvino"] = {precision: bare_limits(records, bare_name(OPENVINO, precision))
                                    for precision in (F32, BF16)
                                    if any(bare_name(OPENVINO, precision) in r["bare"] for r in records)}
    results["ratios"] = ratios(results)
    return results


def write_report(results: dict, out: Path) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=2))
    plot(results, out / "results.png")
    if "open_loop" in results:
        open_loop_report.plot(results["open_loop"], out / "open_loop.png")
    (out / "results.md").write_text(table(results))
    print(table(results))


if __name__ == "__main__":
    raise SystemExit(main())
