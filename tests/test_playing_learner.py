"""A learner works through the lab, notebook by notebook, and the checks follow them.

From the stubs as shipped (a temporary ``exercises`` package, never the checkout's), the test
writes one notebook's answers at a time, in the notebooks' order:

1. before anything is written, the summary ``run_checks()`` prints reports every exercise of every
   notebook as not attempted (from the suite's one run of the checks against the shipped stubs);
2. the notebook's first exercise is written, with one of the mistakes of its mutation table when
   it has one (``tests/exercises/mutants_nbNN.toml``), else as the reference writes it: that
   exercise alone is attempted ("k of n checks pass" with k < n for a mistake), the rest of the
   notebook still "not attempted";
3. the notebook's reference answers are copied in whole: ``run_checks("nbNN")``, run the way a
   notebook cell runs it (the learner's package found on ``PYTHONPATH``), reports every exercise
   done, and every ``lab.learner.answers`` call that a notebook cell or a ``lab`` helper makes for those
   modules now uses the learner's code ("Using your code", their file), not the reference.

No notebook runs here: the checks of one notebook take seconds.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lab.learner import answers, checks, stubs
from mutation import Mutant, mutants_of, table_of

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted({stubs.notebook_of(module) for module in stubs.modules()})
#: ``answers.whose("module", "name", ...)`` and ``answers.learner_or_reference("module", "name")``
#: as the notebooks and ``lab/`` write them.
CALL = re.compile(r'answers\.(whose|learner_or_reference)\(\s*"(\w+)"((?:\s*,\s*"[\w.]+")*)')


def modules_of(notebook: str) -> list[str]:
    return [module for module in stubs.modules() if stubs.notebook_of(module) == notebook]


def answer_calls() -> list[tuple[str, str, tuple[str, ...]]]:
    """Every ``lab.learner.answers`` call with literal names in the notebooks' cells and in ``lab/``."""
    texts = [path.read_text() for path in (REPO_ROOT / "lab").rglob("*.py")]
    for path in sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        texts += ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    found = []
    for text in texts:
        for kind, module, names in CALL.findall(text):
            literal = tuple(re.findall(r'"([\w.]+)"', names))
            if literal:  # names passed in a variable (``*STEPS``) are not read here
                found.append((kind, module, literal))
    return sorted(set(found))


def _node(source: str, name: str) -> ast.AST:
    return next(node for node in ast.parse(source).body if getattr(node, "name", None) == name)


def write_exercise(learner_file: Path, reference: str, name: str) -> None:
    """Replace the stub of ``name`` (a function or a class) in the learner's file with ``reference``'s."""
    source = learner_file.read_text()
    stub, written = _node(source, name), _node(reference, name)

    def span(node: ast.AST) -> tuple[int, int]:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        return first - 1, node.end_lineno

    lines, reference_lines = source.splitlines(keepends=True), reference.splitlines(keepends=True)
    (start, end), (r_start, r_end) = span(stub), span(written)
    learner_file.write_text("".join(lines[:start] + reference_lines[r_start:r_end] + lines[end:]))


def first_mistake(notebook: str) -> Mutant | None:
    if not table_of(notebook).is_file():
        return None
    return next(iter(mutants_of(notebook)), None)


def statuses(output: str) -> dict[tuple[str, str], str]:
    """``{(module, exercise): status}`` from ``run_checks("nbNN")``'s printed report."""
    found, module = {}, ""
    for line in output.splitlines():
        heading = re.match(r"nb\d\d · (\w+)\.py$", line)
        if heading:
            module = heading.group(1)
            continue
        row = re.match(r"  (\S+)\s+(not attempted|done|\d+ of \d+ checks pass)$", line)
        if row:
            found[(module, row.group(1))] = row.group(2)
    return found


#: Run where a notebook kernel runs (``notebooks/``), with the learner's package first on the path.
AS_A_NOTEBOOK_CELL = textwrap.dedent('''
    import json, sys
    from lab.learner import answers, checks
    calls = json.loads(sys.argv[2])
    print("DIRECTORY", checks.answers_directory("exercises"))
    checks.run_checks(sys.argv[1])
    for kind, module, names in calls:
        print("CALL", kind, module, *names)
        if kind == "whose":
            print("WHOSE", answers.whose(module, *names))
        else:
            used = answers.learner_or_reference(module, names[0])
            print("FILE", sys.modules[used.__module__].__file__)
''')


def as_a_notebook_cell(exercises: Path, notebook: str, calls: list[tuple[str, str, tuple[str, ...]]]) -> str:
    path = os.pathsep.join(p for p in (str(exercises.parent), str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop(checks.ANSWERS_VARIABLE, None)
    finished = subprocess.run([sys.executable, "-c", AS_A_NOTEBOOK_CELL, notebook, json.dumps(calls)],
                              cwd=REPO_ROOT / "notebooks", env=env, capture_output=True, text=True,
                              timeout=checks.CHECK_TIMEOUT_S * 2)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return finished.stdout


@pytest.fixture(scope="module")
def learner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The learner's ``exercises`` package: the stubs as shipped, written into by the test below."""
    return stubs.copy_into(tmp_path_factory.mktemp("learner") / "exercises")


def test_the_learner_starts_with_nothing_attempted(shipped_stubs: Path, stub_check_results) -> None:
    lines = checks.format_summary(stub_check_results, shipped_stubs).splitlines()
    assert [line[:4] for line in lines] == NOTEBOOKS, lines
    for line in lines:
        exercises = re.search(r": 0 of (\d+) exercises done, (\d+) not attempted; 0 of \d+ checks pass$", line)
        assert exercises and exercises.group(1) == exercises.group(2), line


@pytest.mark.timeout(600)
@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_the_learner_writes_one_notebook_after_another(notebook: str, learner: Path, capsys) -> None:
    modules = modules_of(notebook)
    exercises = [(module, name) for module in modules for name in checks.exercises_in(module)]
    assert exercises, f"{notebook} has no exercise"

    # One exercise written: with a mistake from the notebook's mutation table, if it has one.
    mistake = first_mistake(notebook)
    if mistake is not None:
        reference = (stubs.SOLUTIONS / f"{mistake.module}.py").read_text()
        assert reference.count(mistake.before) == 1, mistake.mistake
        written = (mistake.module, mistake.exercise)
        write_exercise(learner / f"{mistake.module}.py", reference.replace(mistake.before, mistake.after),
                       mistake.exercise)
    else:
        written = exercises[0]
        write_exercise(learner / f"{written[0]}.py", (stubs.SOLUTIONS / f"{written[0]}.py").read_text(),
                       written[1])
    checks.run_checks(notebook, answers=str(learner))
    report = statuses(capsys.readouterr().out)
    assert set(report) == set(exercises), report
    if mistake is not None:
        assert re.fullmatch(r"\d+ of \d+ checks pass", report[written]), (mistake.mistake, report)
        passed, total = map(int, re.findall(r"\d+", report[written]))
        assert passed < total, report
    else:
        assert report[written] != checks.NOT_ATTEMPTED, report
    assert all(status == checks.NOT_ATTEMPTED for key, status in report.items() if key != written), report

    # The whole notebook written, as the reference writes it.
    for module in modules:
        (learner / f"{module}.py").write_text((stubs.SOLUTIONS / f"{module}.py").read_text())
    calls = [call for call in answer_calls() if call[1] in modules]
    output = as_a_notebook_cell(learner, notebook, calls)
    assert f"DIRECTORY {learner.resolve()}\n" in output, output
    report = statuses(output)
    assert report == {key: checks.DONE for key in exercises}, output
    assert "All " in output and f"checks for {notebook} pass." in output, output
    for kind, module, names in calls:
        said = output.split(" ".join(("CALL", kind, module, *names)) + "\n", 1)[1]
        assert said.startswith(answers.USING_YOURS_OPENING), (kind, module, names, said[:300])
        if kind == "whose":
            assert said.splitlines()[1] == f"WHOSE {answers.LEARNER}", said[:300]
        else:
            assert said.splitlines()[1] == f"FILE {learner.resolve() / f'{module}.py'}", said[:300]
