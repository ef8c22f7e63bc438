"""``python -m model_server worker --supervise``: a worker process that dies or hangs is replaced.

Real processes: a broker with short heartbeats, a supervisor started as a subprocess, its worker
children found through the broker's stats (their names end in their pids) and /proc. The workers
run ResNet50 on OpenVINO, quick to start and so quick to replace (``openvino_flags``).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from harness.launch import remote_worker_pids, start_broker, start_remote_worker
from harness.processes import ServerProcess, parent_pid
from harness.sample_images import photo_jpegs
from model_server.client import ModelClient
from model_server.serving.lifecycle import ServerStartError
from model_server.serving.worker_supervisor import RESTART_DELAY_MIN_S, START_ATTEMPTS

#: A worker silent for 0.3 s × 3 is hung.
HEARTBEAT_ARGS = ("--heartbeat-interval-s", "0.3", "--heartbeat-liveness", "3")
#: Seconds a replacement may take: the silence limit, the restart delay, loading the model.
REPLACED_WITHIN_S = 60.0
IMAGE = photo_jpegs(1)[0]


@pytest.fixture(scope="module")
def broker():
    with start_broker(name="test-supervisor-broker", extra_args=HEARTBEAT_ARGS) as broker:
        yield broker


@pytest.fixture(scope="module")
def worker_args(openvino_flags) -> tuple[str, ...]:
    return (*HEARTBEAT_ARGS, *openvino_flags)


@pytest.fixture(scope="module")
def supervised(broker, worker_args):
    """One supervisor for the tests that fault its worker: each waits for the replacement."""
    with start_remote_worker(broker, workers=1, supervise=True, name="test-supervised-worker",
                             extra_args=worker_args) as supervisor:
        yield supervisor


@pytest.fixture
def start_supervised(broker, worker_args):
    """A supervisor of its own, for a test that stops or kills it; stopped in teardown anyway."""
    supervisors: list[ServerProcess] = []

    def start() -> ServerProcess:
        supervisors.append(start_remote_worker(broker, workers=1, supervise=True,
                                               name="test-own-supervisor", extra_args=worker_args))
        return supervisors[-1]

    yield start
    for supervisor in supervisors:
        supervisor.stop()


def children(broker: ServerProcess, supervisor: ServerProcess) -> list[int]:
    """The running worker processes the broker lists whose parent is ``supervisor``."""
    return [pid for pid in remote_worker_pids(broker) if parent_pid(pid) == supervisor.pid]


def the_child(broker: ServerProcess, supervisor: ServerProcess, other_than: int | None = None) -> int:
    """The supervisor's one worker process, once the broker lists it (not ``other_than``)."""
    deadline = time.monotonic() + REPLACED_WITHIN_S
    while time.monotonic() < deadline:
        pids = [pid for pid in children(broker, supervisor) if pid != other_than]
        if pids:
            assert len(pids) == 1, f"more than one worker process: {pids}"
            return pids[0]
        time.sleep(0.1)
    raise AssertionError(f"no new worker process within {REPLACED_WITHIN_S} s:\n"
                         f"{supervisor.log_tail(30)}")


def running(pid: int) -> bool:
    return parent_pid(pid) is not None


def wait_until_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not running(pid)


def answered_by(broker: ServerProcess) -> int:
    with ModelClient(broker.address, timeout=30, retries=2) as client:
        return int(client.predict(IMAGE).worker.rsplit(":", 1)[1])


def test_a_killed_worker_is_replaced_and_the_new_one_answers(broker, supervised):
    victim = the_child(broker, supervised)
    os.kill(victim, signal.SIGKILL)
    replacement = the_child(broker, supervised, other_than=victim)
    assert answered_by(broker) == replacement
    assert f"worker pid {victim} was killed by SIGKILL; restarting it in" in supervised.log_tail(100)
    assert supervised.running()


def test_a_frozen_worker_is_killed_and_replaced(broker, supervised):
    victim = the_child(broker, supervised)
    os.kill(victim, signal.SIGSTOP)
    try:
        replacement = the_child(broker, supervised, other_than=victim)
    finally:
        if running(victim):
            os.kill(victim, signal.SIGCONT)
    assert not running(victim)
    assert answered_by(broker) == replacement
    assert f"worker pid {victim} was silent for" in supervised.log_tail(100)


def test_the_supervisor_loads_no_model_runtime(broker, supervised):
    worker = the_child(broker, supervised)
    assert "openvino" in Path(f"/proc/{worker}/maps").read_text()
    supervisors_libraries = Path(f"/proc/{supervised.pid}/maps").read_text()
    assert "openvino" not in supervisors_libraries and "tensorflow" not in supervisors_libraries


def test_sigterm_stops_the_worker_politely_and_the_supervisor_exits_0(broker, start_supervised):
    supervisor = start_supervised()
    worker = the_child(broker, supervisor)
    os.kill(supervisor.pid, signal.SIGTERM)  # the supervisor alone, not its process group
    assert supervisor.wait(30) == 0
    assert not running(worker)
    log = supervisor.log_tail(100)
    assert "left the broker" in log, log  # the worker said DISCONNECT: it was told to stop
    assert "restarting" not in log


def test_a_killed_supervisor_leaves_no_worker_behind(broker, start_supervised):
    supervisor = start_supervised()
    worker = the_child(broker, supervisor)
    os.kill(supervisor.pid, signal.SIGKILL)
    gone = wait_until_gone(worker, timeout_s=30)
    if not gone:
        os.kill(worker, signal.SIGKILL)  # the orphan, which the supervisor's teardown cannot reach
    assert gone, f"worker {worker} outlived its supervisor"


def test_a_worker_that_cannot_start_is_tried_a_few_times_then_given_up(broker, tmp_path):
    missing = str(tmp_path / "missing.key_secret")
    name = "test-supervisor-of-a-broken-worker"
    started = time.monotonic()
    with pytest.raises(ServerStartError, match=f"{name} exited with code 1") as failed:
        start_remote_worker(broker, key_files=(missing, missing), supervise=True, name=name, timeout=60)
    elapsed_s = time.monotonic() - started
    log = str(failed.value)
    assert log.count("started worker pid") == START_ATTEMPTS, log
    assert log.count("before it was ready") == START_ATTEMPTS, log
    assert log.count("restarting it in") == START_ATTEMPTS - 1, log
    assert "giving up" in log
    # 1 s, then 2 s between the attempts: no tight loop.
    assert elapsed_s >= RESTART_DELAY_MIN_S * (2 ** (START_ATTEMPTS - 1) - 1)
