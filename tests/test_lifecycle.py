"""A server process stops on SIGTERM or Ctrl-C, and dies with the process that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.processes import REPO_ROOT
from model_server.serving.lifecycle import stop_on_signals

#: Starts a child that asks to die with it, prints the child's pid and exits at once.
ORPHAN_A_CHILD = """
import subprocess, sys
from model_server.serving.lifecycle import die_with_parent
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], preexec_fn=die_with_parent)
print(child.pid, flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_sets_the_stop_event_instead_of_interrupting(signum):
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop = stop_on_signals()
        assert not stop.is_set()
        os.kill(os.getpid(), signum)
        assert stop.wait(2.0), "the signal did not set the event"
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed but not reaped yet, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_that_asked_to_die_with_its_parent_does():
    finished = subprocess.run([sys.executable, "-c", ORPHAN_A_CHILD], capture_output=True, text=True,
                              cwd=REPO_ROOT, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert finished.returncode == 0, finished.stderr
    child = int(finished.stdout.split()[0])
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert not _alive(child), "the child outlived its parent"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
