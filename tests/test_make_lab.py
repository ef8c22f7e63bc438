"""``make lab``, the README's main command: JupyterLab starts for whoever runs it.

It runs ``scripts/start-lab``, the command ``make lab`` runs, on a free port with no display, and
waits for JupyterLab to answer over HTTP: as the user running the tests (root on CI machines), and
also as an unprivileged user when the tests run as root and that user can read the checkout.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from harness.processes import REPO_ROOT, free_port

START_LAB = REPO_ROOT / "scripts" / "start-lab"
#: Seconds JupyterLab may take to answer (it usually starts in a few).
START_TIMEOUT_S = 60
UNPRIVILEGED_USER = "nobody"


def make_lab_commands() -> list[str]:
    """What ``make lab`` would run, without running it (``make -n``), setup aside."""
    printed = subprocess.run(["make", "-n", "-s", "lab"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=30, check=True, stdin=subprocess.DEVNULL).stdout
    return [line for line in printed.splitlines() if "pip install" not in line and line.strip()]


def jupyter_version(port: int) -> str | None:
    """JupyterLab's server version from its ``/api`` (answered without a token), or None."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2) as response:
            return json.loads(response.read())["version"]
    except OSError:
        return None


def start_lab_and_wait(tmp_path, user: str | None = None) -> tuple[str | None, str]:
    """Run start-lab (as ``user`` if given) until JupyterLab answers; return its version and log."""
    port = free_port()
    home = tmp_path / "home"
    home.mkdir()
    if user is not None:  # pytest's own folders are private to the user running the tests
        home = Path(tempfile.mkdtemp(prefix="start-lab-home-"))
        os.chown(home, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    env = {key: value for key, value in os.environ.items()
           if key not in ("DISPLAY", "WAYLAND_DISPLAY") and not key.startswith("JUPYTER")}
    env.update(HOME=str(home), JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    log_path = tmp_path / "lab.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(START_LAB), f"--port={port}", "--ServerApp.port_retries=0"],
                                   cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True, user=user)
    version = None
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while version is None and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
            version = jupyter_version(port)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if user is not None:
            shutil.rmtree(home, ignore_errors=True)
    return version, log_path.read_text(errors="replace")


def test_make_lab_runs_start_lab():
    commands = make_lab_commands()
    assert commands[-1].split()[0] == "scripts/start-lab", commands


def test_start_lab_starts_jupyterlab_without_a_display(tmp_path):
    version, log = start_lab_and_wait(tmp_path)
    assert version, f"JupyterLab did not answer within {START_TIMEOUT_S} s:\n{log}"
    assert "no browser is opened" in log
    assert "http://127.0.0.1:" in log, "the address to open is printed"
    if os.geteuid() == 0:
        assert "started with --allow-root" in log


def unprivileged_user_can_run_the_venv() -> bool:
    if os.geteuid() != 0:
        return False
    try:
        pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        return False
    try:  # the venv's python may link to an interpreter under a private home folder
        probe = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "python"), "-c", "import jupyterlab"],
                               cwd="/", capture_output=True, timeout=60, user=UNPRIVILEGED_USER,
                               stdin=subprocess.DEVNULL)
    except PermissionError:
        return False
    readable = subprocess.run(["test", "-x", str(START_LAB)], user=UNPRIVILEGED_USER, timeout=10)
    return probe.returncode == 0 and readable.returncode == 0


@pytest.mark.skipif(not unprivileged_user_can_run_the_venv(),
                    reason=f"needs root and a user {UNPRIVILEGED_USER!r} that can run this checkout's .venv "
                           "(not where the checkout or its Python is in a private folder)")
def test_start_lab_starts_jupyterlab_for_a_normal_user(tmp_path):
    version, log = start_lab_and_wait(tmp_path, user=UNPRIVILEGED_USER)
    assert version, f"JupyterLab did not answer within {START_TIMEOUT_S} s:\n{log}"
    assert "--allow-root" not in log
