"""A round's entries: a closed-loop burst of each system at each number of clients, with the CPU
each process spent per request, and the bare models' limits; then every system started, warmed up
and measured in interleaved rounds (``interleaved.run_rounds``).
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import psutil

from benchmarks.rounds import usage
from benchmarks.rounds.interleaved import Entry, run_rounds
from benchmarks.systems.catalogue import System
from benchmarks.systems.launch import MakeCall
from benchmarks.systems.servers import Servers
from harness.load import run_load
from harness.processes import running_servers
from model_server.protocol import F32, TENSORFLOW

#: At many clients, at least this many requests each in a burst.
PER_CLIENT = 3
#: The bare model per round: batch 1 (``repeats`` passes) in the 1-client block, and the batched
#: limit in the 8-client block (fewer passes of the larger batches).
BARE_LATENCY: dict[str, Any] = {"batch_sizes": [1], "repeats": 7}
BARE_BATCHED: dict[str, Any] = {"batch_sizes": [4, 8, 16], "repeats": 4}
#: The name, in ``cpu_ms_per_request``, of this process: the load generator and the clients.
LOAD_GENERATOR = "load generator (this process)"


def burst(make_call: MakeCall, images: list[bytes], clients: int, requests: int, warmup: int) -> dict[str, Any]:
    """One closed-loop burst, with the CPU each server process (and this one) spent per request."""
    processes = {server.name: psutil.Process(server.pid) for server in running_servers()}
    before, own = usage.snapshot(processes), time.process_time()
    figures: dict[str, Any] = run_load(make_call, images, clients, requests, warmup=warmup).as_dict()
    sent = figures["requests"] + warmup * clients
    figures["cpu_ms_per_request"] = usage.per_request_ms(
        {**before, LOAD_GENERATOR: own}, {**usage.snapshot(processes), LOAD_GENERATOR: time.process_time()},
        sent)
    return figures


def entries(chosen: list[System], calls: dict[str, MakeCall], servers: Servers,
            images: list[bytes], requests: int, warm_up: bool = False) -> list[Entry]:
    """A burst per system and number of clients, and the bare models' per round; ``warm_up``
    makes each burst two requests per client."""
    out = []
    for system in chosen:
        for clients in system.levels:
            count = system.requests or (2 * clients if warm_up else max(requests, PER_CLIENT * clients))
            warmup = 0 if system.requests else 1
            out.append(Entry(system.name, clients,
                             partial(burst, calls[system.name], images, clients, count, warmup)))
    # TensorFlow's bare model always: the report's limit line and the TensorFlow ratios read it.
    for runtime, precision in dict.fromkeys(
            [(TENSORFLOW, F32), *((system.runtime, system.precision) for system in chosen)]):
        bare = servers.bare(runtime, precision)
        out += [Entry(bare.name, 1, partial(bare.limits, **BARE_LATENCY), bare=True),
                Entry(bare.name, 8, partial(bare.limits, **BARE_BATCHED), bare=True)]
    return out


def footprints(servers: Servers) -> dict[str, dict[str, float]]:
    """Seconds from start to ready (of the servers; the bare models' are not timed), and memory
    (of the process and its children), per process of the run."""
    processes = ([(s.name, s.pid, s.ready_seconds) for s in running_servers()]
                 + [(b.name, b.pid, None) for b in servers.bare_models])
    return {name: {"ready_s": round(ready or 0.0, 2), "memory_mb": usage.memory_mib(pid)}
            for name, pid, ready in processes if pid is not None}


def interleaved_rounds(chosen: list[System], servers: Servers, images: list[bytes], rounds: int,
                       requests: int) -> dict[str, Any]:
    """Start every chosen system, warm each up, then measure them all in interleaved rounds."""
    calls = {}
    for system in chosen:
        print(f"starting {system.name} …", flush=True)
        calls[system.name] = system.start(servers)
    print("warming up every system …", flush=True)
    run_rounds(entries(chosen, calls, servers, images, requests, warm_up=True), 1)
    print(f"{rounds} interleaved rounds …", flush=True)
    return {"rounds": run_rounds(entries(chosen, calls, servers, images, requests), rounds,
                                 progress=lambda line: print(line, flush=True)),
            "footprints": footprints(servers)}
