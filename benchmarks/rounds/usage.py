"""What a process under test uses, with its children: CPU time per request, and resident memory.

End-to-end throughput on one shared 2-core machine says little about what a model machine could
serve alone: the web tier, the load generator and the model server share the cores. The CPU
seconds each process used during a burst, divided by the requests it answered, do: a machine of
``cores`` cores can serve at most ``cores ÷ CPU seconds per request`` of them.

Memory counts the children too: a supervised worker's model lives in its child process.
"""

from __future__ import annotations

from collections.abc import Mapping

import psutil


def cpu_seconds(process: psutil.Process) -> float:
    """User and system CPU seconds of ``process`` and of its children, live and ended.

    Ended children count once the process has waited for them (``children_user``); a child that
    ends unwaited during a burst loses its time, which only Ray Serve's helpers might do.
    """
    try:
        times = process.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in process.children(recursive=True):
            try:
                child_times = child.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += child_times.user + child_times.system
        return total
    except psutil.NoSuchProcess:
        return 0.0


def snapshot(processes: Mapping[str, psutil.Process]) -> dict[str, float]:
    return {name: cpu_seconds(process) for name, process in processes.items()}


def per_request_ms(before: Mapping[str, float], after: Mapping[str, float], requests: int,
                   floor_ms: float = 0.05) -> dict[str, float]:
    """Milliseconds of CPU per request for each process; those below ``floor_ms`` (idle) left out."""
    spent = {name: (after[name] - before[name]) * 1000.0 / requests for name in before if name in after}
    return {name: round(ms, 2) for name, ms in spent.items() if ms >= floor_ms}


def memory_mib(pid: int) -> float:
    """The resident memory (RSS) of process ``pid`` and of its children, in MiB."""
    process = psutil.Process(pid)
    rss = sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
    return round(rss / 2**20, 1)
