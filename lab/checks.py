"""Run the exercise checks of one notebook from a notebook cell, as the shell would.

``run_checks("nb04")`` runs ``python -m pytest tests/exercises -k nb04`` in a fresh process (so
that it sees your latest edits to ``exercises/`` without restarting the kernel) and prints what
pytest says, ending with a line that says whether they all pass.
"""

from __future__ import annotations

import os
import subprocess
import sys

from .processes import REPO_ROOT

EXERCISE_TESTS = REPO_ROOT / "tests" / "exercises"
#: The environment variable the checks read: ``exercises`` (default), ``solutions`` or a directory.
ANSWERS_VARIABLE = "LAB_ANSWERS"
CHECK_TIMEOUT_S = 120.0


def checks_command(notebook: str) -> list[str]:
    """The command that runs one notebook's checks (``notebook`` is like ``"nb04"``)."""
    return [sys.executable, "-m", "pytest", str(EXERCISE_TESTS), "-k", notebook, "-q",
            "--no-header", "-p", "no:cacheprovider", f"--confcutdir={EXERCISE_TESTS}"]


def run_checks(notebook: str, answers: str = "exercises", timeout: float = CHECK_TIMEOUT_S) -> None:
    """Check your answers for one notebook (``answers="solutions"`` for the reference ones)."""
    env = {**os.environ, ANSWERS_VARIABLE: answers}
    try:
        finished = subprocess.run(checks_command(notebook), cwd=REPO_ROOT, env=env,
                                  capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"The checks took more than {timeout:g} s and were stopped: does one of your "
              "functions wait forever (a recv() without a timeout)?")
        return
    print(finished.stdout + finished.stderr)
    if finished.returncode == 0:
        print(f"All checks for {notebook} pass.")
    else:
        print(f"Some checks for {notebook} fail: each failure above says what to fix.")
