"""``python -m benchmarks``: every way of serving ResNet50, the same images, one machine, one run.

Rows: the bare model (the limit), the original design (one worker, no batching), our model server
(through the client, and through the web app under waitress and under Flask's own server), the
model as a global inside the web process, and the monolith; with the [openvino] extra, our server
on OpenVINO f32 (and bf16 where the CPU has it), each against its own bare limit, and the start to
ready of each runtime. Each concurrency level is run
``--repeats`` times; the JSON keeps every run, the table shows the median run and the spread.
Then the open loop (``open_loop.py``): Poisson arrivals from a quarter to twice the capacity,
through the client and through the web app; ``--only "open loop"`` runs that section alone and
stores it under ``open_loop`` beside what an earlier run left in ``--out``'s results.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import time
from pathlib import Path

import psutil

from lab.bare_model import measure_in_subprocess
from lab.load import LoadResult, run_load
from lab.processes import ServerProcess, running_servers

from model_server.protocol import BF16, F32, OPENVINO

from . import open_loop, open_loop_report, systems
from .overhead import ROUNDS as OVERHEAD_ROUNDS
from .overhead import measure as measure_overhead
from .report import openvino_system, plot, ratios, table
from .startup import start_to_ready
from .workload import photo_jpegs

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CONCURRENCY = (1, 4, 8, 16)
OURS = {"workers": 8, "max_batch": 8}
ORIGINAL = {"workers": 1, "max_batch": 1, "binary": False}
#: The open-loop section's name, for ``--only``.
OPEN_LOOP = "open loop"


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


def _systems(quick: bool) -> dict[str, tuple]:
    """Name → (context manager factory, concurrency levels)."""
    levels = CONCURRENCY[:3] if quick else CONCURRENCY
    chosen = {
        "original design (1 worker, no batching, base64 JSON)": (
            lambda: systems.model_server(**ORIGINAL), levels),
        "our server, client, base64 JSON": (
            lambda: systems.model_server(**OURS, binary=False), levels[:1]),
        "our server, client": (lambda: systems.model_server(**OURS), levels),
        **{openvino_system(precision): (
            lambda precision=precision: systems.model_server(
                **OURS, extra=systems.runtime_args(OPENVINO, precision)), levels)
           for precision in openvino_precisions()},
        "our server, web app (waitress)": (lambda: systems.web_app("waitress", **OURS), levels),
        "our server, web app (Flask server)": (lambda: systems.web_app("flask", **OURS), levels),
        "model in the web process (waitress)": (systems.model_in_web_process, levels),
        "monolith": (systems.monolith, (1,)),
    }
    if importlib.util.find_spec("ray") is not None:
        chosen["Ray Serve (@serve.batch), HTTP"] = (
            lambda: systems.ray_serve(OURS["max_batch"]), levels)
    else:
        print("Ray Serve is not installed (pip install 'ray[serve]'): its rows are left out")
    return chosen


def _footprint(servers: list[ServerProcess]) -> dict[str, dict[str, float]]:
    """Seconds from start to ready, and memory (RSS of the process and its children), per server."""
    footprint = {}
    for server in servers:
        process = psutil.Process(server.pid)
        rss = sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
        footprint[server.name] = {"ready_s": round(server.ready_seconds or 0.0, 2),
                                  "memory_mb": round(rss / 2**20, 1)}
    return footprint


def _median_run(runs: list[LoadResult]) -> dict:
    middle = sorted(runs, key=lambda run: run.throughput)[len(runs) // 2]
    summary = middle.as_dict()
    summary["throughput_min"] = min(run.throughput for run in runs)
    summary["throughput_max"] = max(run.throughput for run in runs)
    summary["median_ms_min"] = min(run.median_ms for run in runs)
    summary["median_ms_max"] = max(run.median_ms for run in runs)
    summary["runs"] = [run.as_dict() for run in runs]
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--requests", type=int, default=48, help="requests per level and run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per concurrency level")
    parser.add_argument("--quick", action="store_true", help="fewer levels, one run: a smoke test")
    parser.add_argument("--only", nargs="*",
                        help='run only systems (and sections: "open loop") whose name contains these words')
    parser.add_argument("--overhead-rounds", type=int, default=OVERHEAD_ROUNDS,
                        help="rounds of the paired overhead measurement; 0 skips it")
    open_loop.add_arguments(parser)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--report-only", action="store_true",
                        help="only redo the table, ratios and plot from --out's results.json")
    args = parser.parse_args(argv)
    if args.report_only:
        results = json.loads((args.out / "results.json").read_text())
        if "bare_runs" in results:
            results["bare"] = best_of(results["bare_runs"])
        for precision, runs in results.get("bare_openvino_runs", {}).items():
            results["bare_openvino"][precision] = best_of(runs)
        write_report(results, args.out)
        return 0
    repeats = 1 if args.quick else args.repeats
    images = photo_jpegs()
    chosen = {name: system for name, system in _systems(args.quick).items()
              if not args.only or any(word in name for word in args.only)}
    with_open_loop = args.open_loop_seconds > 0 and (
        not args.only or any(word in OPEN_LOOP for word in args.only))
    if with_open_loop and not chosen:
        return open_loop_alone(args)

    print("measuring the bare model …", flush=True)
    results = {
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M")},
        "settings": {"ours": OURS, "original": ORIGINAL, "requests": args.requests,
                     "repeats": repeats, "image": "640x480 JPEG"},
        "bare": measure_in_subprocess(),
        "systems": {},
        "footprints": {},
    }
    bare_runs = [results["bare"]]
    precisions = [p for p in (F32, BF16) if openvino_system(p) in chosen]
    openvino_bare_runs = {}
    for precision in precisions:
        print(f"measuring the bare model on OpenVINO {precision} …", flush=True)
        openvino_bare_runs[precision] = [measure_in_subprocess(runtime=OPENVINO, precision=precision)]
    for name, (start, levels) in chosen.items():
        print(f"{name} …", flush=True)
        rows = {}
        with start() as make_call:
            footprint = _footprint(running_servers())
            print(f"  started: {footprint}", flush=True)
            for concurrency in levels:
                requests = 3 if name == "monolith" else max(args.requests, 2 * concurrency)
                runs = [run_load(make_call, images, concurrency, requests,
                                 warmup=0 if name == "monolith" else 2) for _ in range(repeats)]
                rows[concurrency] = _median_run(runs)
                print(f"  c={concurrency}: median {rows[concurrency]['median_ms']} ms, "
                      f"{rows[concurrency]['throughput']} img/s", flush=True)
        results["systems"][name] = rows
        results["footprints"][name] = footprint
    if args.overhead_rounds and not args.quick:
        print("measuring the overhead of one request, in pairs with the bare model …", flush=True)
        results["overhead"] = measure_overhead(args.overhead_rounds)
    if with_open_loop:
        print("open loop: Poisson arrivals from a quarter to twice the capacity …", flush=True)
        results["open_loop"] = open_loop.measure(**open_loop.section_options(args))
    print("measuring the bare model again …", flush=True)
    bare_runs.append(measure_in_subprocess())
    results["bare_runs"] = bare_runs
    results["bare"] = best_of(bare_runs)
    for precision, runs in openvino_bare_runs.items():
        runs.append(measure_in_subprocess(runtime=OPENVINO, precision=precision))
        results.setdefault("bare_openvino_runs", {})[precision] = runs
        results.setdefault("bare_openvino", {})[precision] = best_of(runs)
    for precision in precisions:
        print(f"start to ready, TensorFlow and OpenVINO {precision} …", flush=True)
        results.setdefault("start_to_ready", {}).update(start_to_ready(precision))
    args.out.mkdir(parents=True, exist_ok=True)
    write_report(results, args.out)
    return 0


def open_loop_alone(args: argparse.Namespace) -> int:
    """The open-loop section alone; the other sections' results in ``--out`` are kept as they are."""
    print("open loop: Poisson arrivals from a quarter to twice the capacity …", flush=True)
    path = args.out / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results["open_loop"] = open_loop.measure(**open_loop.section_options(args))
    args.out.mkdir(parents=True, exist_ok=True)
    if "bare" in results:
        write_report(results, args.out)
    else:  # nothing else measured here yet: the open loop's own report only
        path.write_text(json.dumps(results, indent=2))
        open_loop_report.plot(results["open_loop"], args.out / "open_loop.png")
        print(open_loop_report.table(results["open_loop"]))
    return 0


def best_of(bare_runs: list[dict]) -> dict:
    """The limit: the best latency and the best throughput that any bare run reached.

    The machine is shared, so the bare model is measured before and after everything else.
    """
    fastest = min(bare_runs, key=lambda run: run["latency_ms"])
    widest = max(bare_runs, key=lambda run: run["best_throughput"])
    return {**widest, "latency_ms": fastest["latency_ms"]}


def write_report(results: dict, out: Path) -> None:
    results["ratios"] = ratios(results)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    plot(results, out / "results.png")
    if "open_loop" in results:
        open_loop_report.plot(results["open_loop"], out / "open_loop.png")
    (out / "results.md").write_text(table(results))
    print(table(results))


if __name__ == "__main__":
    raise SystemExit(main())
