"""The exercise checks themselves are checked: the solutions pass them, the untouched stubs fail them.

Without the second half a check could pass by itself (a test that asserts nothing, a stub that
happens to return the right thing), and a learner would be told "well done" for no work. The stubs
checked are the copies the lab keeps (``lab/learner/stubs/``), so a learner's own edits to ``exercises/``,
committed or not, do not change what this test sees; and those copies must equal every
``exercises/`` module in which nothing is written yet (``python -m lab.learner.stubs`` refreshes them).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.learner import stubs
from lab.learner.answers import is_stub
from lab.learner.checks import ANSWERS_VARIABLE, CheckResult

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKS = REPO_ROOT / "tests" / "exercises"
#: ``tests/exercises/test_nb04_resnet_model_server.py`` checks ``exercises/resnet_model_server.py``
#: for notebook 04: the modules keep the original write-up's file names where it has them.
CHECK_FILES = sorted(CHECKS.glob("test_nb[0-9][0-9]_*.py"))


def _exercise_module(check_file: Path) -> str:
    """``test_nb02_monolith.py`` → ``nb02_monolith``; ``test_nb04_test_client.py`` → ``test_client``."""
    module = check_file.stem.removeprefix("test_")
    return module if (REPO_ROOT / "exercises" / f"{module}.py").is_file() else module[5:]


EXERCISE_OF = {_exercise_module(path): path.name[5:9] for path in CHECK_FILES}
NOTEBOOKS = tuple(sorted(set(EXERCISE_OF.values())))
MIN_CHECKS_PER_NOTEBOOK = 3


def counts(results: list[CheckResult], notebook: str) -> tuple[int, int]:
    """How many of ``notebook``'s checks passed and failed."""
    mine = [result for result in results if result.notebook == notebook]
    return sum(result.passed for result in mine), sum(not result.passed for result in mine)


def _functions(path: Path) -> dict[str, ast.FunctionDef]:
    """The module's functions and its classes' methods (``Server.start``) that a learner writes."""
    tree = ast.parse(path.read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            found.update({f"{node.name}.{item.name}": item for item in node.body
                          if isinstance(item, ast.FunctionDef)})
    return found


#: Methods a stub class may keep written: they are given, not exercises (say why in the stub).
GIVEN = stubs.GIVEN


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_solutions_pass_every_check(notebook: str, reference_check_results: list[CheckResult]) -> None:
    passed, failed = counts(reference_check_results, notebook)
    hints = [r.hint for r in reference_check_results if r.notebook == notebook and not r.passed]
    assert failed == 0, hints
    assert passed >= MIN_CHECKS_PER_NOTEBOOK, (notebook, passed)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_untouched_stubs_fail_every_check(notebook: str, stub_check_results: list[CheckResult]) -> None:
    passed, failed = counts(stub_check_results, notebook)
    assert passed == 0, [r.name for r in stub_check_results if r.notebook == notebook and r.passed]
    assert failed >= MIN_CHECKS_PER_NOTEBOOK, (notebook, failed)
    hints = [r.hint or "" for r in stub_check_results if r.notebook == notebook]
    assert any("is not written yet" in hint for hint in hints), (
        f"a stub's failure should say what to write where: {hints[:3]}")


def test_every_exercise_is_a_stub_with_a_solution_of_the_same_signature(shipped_stubs: Path) -> None:
    stubs = sorted(path for path in shipped_stubs.glob("*.py") if path.name != "__init__.py")
    assert {path.stem for path in stubs} == set(EXERCISE_OF), "one checks file per exercise module"
    for stub_path in stubs:
        solution_path = REPO_ROOT / "solutions" / stub_path.name
        assert solution_path.is_file(), f"{stub_path.name} has no reference answer in solutions/"
        stub_functions, solution_functions = _functions(stub_path), _functions(solution_path)
        assert stub_functions.keys() <= solution_functions.keys(), stub_path.name
        exercises = {name: f for name, f in stub_functions.items() if name.split(".")[-1] not in GIVEN}
        assert any(is_stub(stub, strict=True) for stub in exercises.values()), f"{stub_path.name} has nothing to write"
        for name, stub in exercises.items():
            if name.startswith("_"):
                continue
            assert is_stub(stub, strict=True), (
                f"exercises/{stub_path.name}: {name} should only raise NotImplementedError")
            assert ast.get_docstring(stub), f"exercises/{stub_path.name}: {name} needs a docstring saying what to do"
            assert ast.dump(stub.args) == ast.dump(solution_functions[name].args), (
                f"{name} takes different arguments in exercises/ and solutions/"
            )


def test_checks_run_only_when_asked_for(tmp_path: Path) -> None:
    """In a run of the whole suite the exercise checks are left out: the stubs would fail them."""
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
               f"--confcutdir={REPO_ROOT / 'tests' / 'exercises'}"]
    env = {k: v for k, v in os.environ.items() if k != ANSWERS_VARIABLE}
    whole = subprocess.run([*command, "tests", "--ignore-glob=tests/test_*.py"], cwd=REPO_ROOT,
                           env=env, capture_output=True, text=True, timeout=120)
    asked = subprocess.run([*command, "tests/exercises"], cwd=REPO_ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert whole.returncode in (0, 5) and "tests/exercises/" not in whole.stdout, whole.stdout
    assert "tests/exercises/test_nb04_resnet_model_server.py::" in asked.stdout, asked.stdout


def test_the_kept_stubs_are_the_shipped_ones() -> None:
    """``lab/learner/stubs/`` holds one copy per ``exercises/`` module, equal to it while nothing in it is
    written (a module with written code is a learner's work and is left alone)."""
    shipped = {path.stem for path in (REPO_ROOT / "exercises").glob("*.py") if not path.name.startswith("_")}
    assert set(stubs.modules()) == shipped, (
        f"lab/learner/stubs/ keeps {sorted(stubs.modules())}, exercises/ has {sorted(shipped)}: "
        "run python -m lab.learner.stubs")
    for module in sorted(shipped):
        source = (REPO_ROOT / "exercises" / f"{module}.py").read_text()
        if stubs.written_in(source):
            continue
        assert source == stubs.kept_stub(module), (
            f"exercises/{module}.py differs from its kept copy lab/learner/stubs/{module}.py.stub: "
            "run python -m lab.learner.stubs after changing a stub")


def test_refreshing_copies_untouched_stubs_and_refuses_written_code(tmp_path: Path, monkeypatch) -> None:
    stub = stubs.kept_stub("nb07_compare")
    assert stub is not None
    kept = tmp_path / "kept"
    kept.mkdir()
    monkeypatch.setattr(stubs, "KEPT", kept)
    exercises = tmp_path / "exercises"
    exercises.mkdir()
    (exercises / "nb07_compare.py").write_text(stub)
    (exercises / "nb02_monolith.py").write_text((REPO_ROOT / "solutions" / "nb02_monolith.py").read_text())
    assert stubs.refresh(exercises) == ["nb02_monolith"]
    assert stubs.modules() == ["nb07_compare"] and stubs.kept_stub("nb07_compare") == stub
