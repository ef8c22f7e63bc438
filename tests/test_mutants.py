"""Every wrong answer in the mutation tables fails its own exercise's check, and only that one.

For each mutant (``tests/mutation.py``), the reference answers are copied with one mistake made,
the checks of the changed module run against them in a fresh pytest process (as ``run_checks``
runs them), and the report is read the way a learner reads it: the broken exercise is not done and
its hint names the mistake; every other exercise of the module is done. (The checks of a module
load no other answers module, so the notebook's other modules cannot be blamed.) Four mutants run
at a time: the checks mostly wait on sockets and threads, not on the CPU. The checks that build
the real ResNet50 (``real_model``, seconds each) are left out: every mistake in the tables is caught
by the quick checks beside them, which this test shows.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lab.learner import stubs
from lab.learner.checks import (
    ANSWERS_VARIABLE,
    DONE,
    ExerciseReport,
    checks_command,
    exercise_reports,
    read_report,
)
from mutation import REPO_ROOT, Mutant, all_mutants, mutated_answers

#: Seconds the checks of one module may take against one mutant (1–12 s on a 2-core Zen 4).
CHECKS_TIMEOUT_S = 240
AT_ONCE = 4
MUTANTS = all_mutants()
#: Held while a thread reads a report (``exercise_reports`` parses the answers with ``ast``): on
#: CPython 3.11, ``ast.parse`` in several threads at once can fail with "SystemError: AST
#: constructor recursion depth mismatch" (python/cpython#106905), as it once did here for every
#: mutant. The checks themselves run in subprocesses, side by side.
PARSING = threading.Lock()


def _report(notebook: str, mutant: Mutant) -> dict[str, list[ExerciseReport]] | str:
    """What ``run_checks(notebook)`` would report against the mutated answers (or pytest's output
    when it wrote no report)."""
    with tempfile.TemporaryDirectory() as scratch:
        answers = mutated_answers(mutant, Path(scratch) / "answers")
        report = Path(scratch) / "report.xml"
        env = {**os.environ, ANSWERS_VARIABLE: str(answers)}
        command = checks_command(notebook, stubs.check_file_of(mutant.module))
        finished = subprocess.run([*command, "-m", "not real_model", f"--junitxml={report}"],
                                  cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                                  timeout=CHECKS_TIMEOUT_S)
        if not report.is_file():
            return finished.stdout + finished.stderr
        with PARSING:
            return exercise_reports(read_report(report), answers)


@pytest.fixture(scope="module")
def reports() -> dict[str, dict[str, list[ExerciseReport]] | str]:
    with ThreadPoolExecutor(AT_ONCE) as pool:
        futures = {mutant.mistake: pool.submit(_report, notebook, mutant) for notebook, mutant in MUTANTS}
        return {mistake: future.result() for mistake, future in futures.items()}


def test_every_mistake_is_named_once_and_its_text_is_in_the_reference(tmp_path: Path) -> None:
    mistakes = [mutant.mistake for _, mutant in MUTANTS]
    assert len(mistakes) == len(set(mistakes)), "two mutants share a name"
    for _, mutant in MUTANTS:
        assert mutant.before != mutant.after, mutant.mistake
        mutated_answers(mutant, tmp_path / mutant.module)  # raises unless found exactly once


@pytest.mark.timeout(CHECKS_TIMEOUT_S * len(MUTANTS) // AT_ONCE + 60)
@pytest.mark.parametrize(("notebook", "mutant"), MUTANTS, ids=[m.mistake for _, m in MUTANTS])
def test_a_mistake_fails_its_own_exercise_with_a_hint_that_names_it(
    notebook: str, mutant: Mutant, reports: dict[str, dict[str, list[ExerciseReport]] | str]
) -> None:
    report = reports[mutant.mistake]
    assert not isinstance(report, str), f"the checks wrote no report:\n{report}"
    exercises = {(e.module, e.name): e for es in report.values() for e in es}
    blamed = exercises.get((mutant.module, mutant.exercise))
    assert blamed is not None, f"no exercise {mutant.exercise} in {sorted(exercises)}"
    assert blamed.attempted and blamed.status != DONE, f"{mutant.mistake}: its checks all pass"
    assert any(mutant.hint.casefold() in hint.casefold() for hint in blamed.hints), (
        f"{mutant.mistake}: no hint under {mutant.exercise} says {mutant.hint!r}: {blamed.hints}")
    others = {f"{module}.{name or '(the module)'}": e.status for (module, name), e in exercises.items()
              if (module, name) != (mutant.module, mutant.exercise) and e.status != DONE}
    assert not others, f"{mutant.mistake} is also blamed on {others}"
