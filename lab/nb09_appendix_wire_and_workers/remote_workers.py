"""Who answered: requests through a broker, counted by the worker process that replied (notebook 09).

Every reply names the process that computed it (``reply.worker``, ``host:pid``); matching the pid
with the worker processes the notebook started shows the work being shared out, and shows it going
only to the workers that are still there after one leaves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from harness.processes import ServerProcess
from model_server.client import ModelClient
from model_server.protocol import parse_worker_name

#: Requests sent one after another to see who answers.
REQUESTS = 12
#: Seconds per attempt, and attempts after a timeout: the broker itself sends again a request held
#: by a worker that vanished, and the client's retries (Lazy Pirate) cover what is left.
REQUEST_TIMEOUT_S = 30.0
REQUEST_RETRIES = 2


def answered_by(
    address: str, images: Sequence[bytes], requests: int = REQUESTS,
    timeout: float = REQUEST_TIMEOUT_S, retries: int = REQUEST_RETRIES,
) -> Counter[str]:
    """Send ``requests`` images one at a time; count the replies per worker process."""
    with ModelClient(address, timeout=timeout, retries=retries) as client:
        return Counter(client.predict(images[index % len(images)]).worker or "(not named)"
                       for index in range(requests))


def _pid_of(worker: str) -> int | None:
    try:
        return parse_worker_name(worker)[1]
    except ValueError:  # "(not named)": a server that does not say
        return None


def command_line(process: ServerProcess) -> str:
    """How the process was started, as one would type it (``python -m model_server …``)."""
    return " ".join(["python", *process.argv[1:]])


def answers_per_process(
    phases: Mapping[str, Mapping[str, int]], processes: Sequence[ServerProcess]
) -> dict[str, dict[str, int]]:
    """Phase → replies per process this notebook started (by name), and per any other that answered."""
    names = {process.pid: process.name for process in processes}
    per_phase = {}
    for phase, answers in phases.items():
        counts = {process.name: 0 for process in processes}
        for worker, count in answers.items():
            name = names.get(_pid_of(worker), f"another process ({worker})")
            counts[name] = counts.get(name, 0) + count
        per_phase[phase] = counts
    return per_phase


def worker_rows(
    per_phase: Mapping[str, Mapping[str, int]], processes: Sequence[ServerProcess]
) -> list[dict[str, object]]:
    """One row per worker process: its name, pid, whether it runs now, and its replies per phase.

    ``per_phase`` is what ``answers_per_process`` returns.
    """
    names = list(dict.fromkeys(name for counts in per_phase.values() for name in counts))
    by_name = {process.name: process for process in processes}
    rows = []
    for name in names:
        process = by_name.get(name)
        row: dict[str, object] = {
            "worker process": name,
            "pid": process.pid if process else "",
            "running now": ("yes" if process.running() else "no") if process else "",
        }
        row.update({f"replies: {phase}": counts.get(name, 0) for phase, counts in per_phase.items()})
        rows.append(row)
    return rows
