"""Run the exercise checks from a notebook cell and report them one line per exercise.

``run_checks("nb04")`` runs ``python -m pytest tests/exercises -k nb04`` in a fresh process (so
that it sees your latest edits to ``exercises/`` without restarting the kernel) and prints, for
each exercise function or class, ``not attempted``, ``k of n checks pass`` or ``done``, with the
hint of each failing check under it. ``run_checks()`` gives one line per notebook.

Which exercise a check is about is not written in the check files: the ``load_answers`` fixture
(``tests/exercises/conftest.py``) notes every exercise a check reads, and pytest's JUnit XML
report carries those notes back here, with each failure's whole message (``lab.learner.check_hints``:
the report's own ``message`` attribute is cut at 500 characters). "Not attempted" is judged
against the stubs as the lab ships them (``lab/learner/stubs/``), not against git: a learner who commits
half-done work still gets its hints.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from harness.processes import REPO_ROOT

from .answers import FALLBACK_LOG_VARIABLE, LEARNER, REFERENCE, package_directory, stubs_of, unwritten
from .stubs import check_file_of, kept_stub, modules, notebook_of

EXERCISE_TESTS = REPO_ROOT / "tests" / "exercises"
#: The environment variable the checks read: ``exercises`` (default), ``solutions`` or a directory.
ANSWERS_VARIABLE = "LAB_ANSWERS"
CHECK_TIMEOUT_S = 120.0
#: The properties ``tests/exercises/conftest.py`` writes into each check's report.
ANSWERS_PROPERTY, TOUCHES_PROPERTY = "answers_module", "touches"
#: The property ``lab.learner.check_hints`` writes: a failing check's whole message.
HINT_PROPERTY = "hint"

NOT_ATTEMPTED, DONE = "not attempted", "done"
#: pytest plugins installed for the suite that no check uses: Hypothesis alone takes 1–3 s to
#: import, in every run of the checks (a check cell, each mutant of the mutation test).
UNUSED_PLUGINS = ("-p", "no:hypothesispytest", "-p", "no:anyio")


def checks_command(notebook: str, within: Path = EXERCISE_TESTS) -> list[str]:
    """The command that runs one notebook's checks (``notebook`` is like ``"nb04"``), all of them
    or those in ``within`` (one module's check file)."""
    return [sys.executable, "-m", "pytest", str(within), "-k", notebook, "-q",
            "--no-header", "-p", "no:cacheprovider", *UNUSED_PLUGINS, "-p", "lab.learner.check_hints",
            f"--confcutdir={EXERCISE_TESTS}"]


@dataclass(frozen=True)
class CheckResult:
    """One check: its notebook, the answers module and exercises it read, and its hint if it failed."""

    notebook: str
    name: str
    module: str | None
    touches: tuple[str, ...]
    hint: str | None

    @property
    def passed(self) -> bool:
        return self.hint is None


@dataclass
class ExerciseReport:
    """One exercise (a function or class of an answers module) and the checks that read it."""

    module: str
    name: str
    attempted: bool
    hints: list[str] = field(default_factory=list)
    passed: int = 0
    total: int = 0

    @property
    def status(self) -> str:
        if not self.attempted:
            return NOT_ATTEMPTED
        if self.total and self.passed == self.total:
            return DONE
        return f"{self.passed} of {self.total} checks pass"


def answers_directory(answers: str) -> Path:
    """``exercises`` is wherever Python imports the learner's package from (see ``lab.learner.answers``)."""
    return package_directory(answers) if answers in (LEARNER, REFERENCE) else Path(answers)


def _hint(message: str) -> str:
    """The hint of a failure, without pytest's ``AssertionError:`` and its re-evaluated ``assert``."""
    for prefix in ("AssertionError: ", "Failed: "):
        message = message.removeprefix(prefix)
    return message.split("\nassert ")[0].strip()


def read_report(report: Path) -> list[CheckResult]:
    """Every check in a ``--junitxml`` report, with the exercises it read and its hint."""
    results = []
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        if case.find("skipped") is not None:
            continue
        properties = [(p.get("name"), p.get("value")) for p in case.iter("property")]
        module = next((value for name, value in properties if name == ANSWERS_PROPERTY), None)
        touches = tuple(value for name, value in properties if name == TOUCHES_PROPERTY)
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        hint = None
        if problem is not None:
            whole = next((value for name, value in properties if name == HINT_PROPERTY), None)
            hint = _hint(whole or problem.get("message") or problem.text or "failed")
        file_stem = case.get("classname", "").rsplit(".", 1)[-1]
        results.append(CheckResult(file_stem.removeprefix("test_")[:4], case.get("name", ""),
                                   module, touches, hint))
    return results


def module_of(notebook: str, exercise: str) -> str | None:
    """The answers module of ``notebook`` in which ``exercise`` (``"Server"``, ``"Server.start"``) is
    written, if any: a check of one exercise runs only that module's checks, which load no other
    answers module."""
    owner = exercise.partition(".")[0]
    return next((module for module in modules() if notebook_of(module) == notebook
                 and owner in exercises_in(module)), None)


def exercises_in(module: str) -> list[str]:
    """The exercises of a module: the functions, and classes with methods, that its stub leaves to write.

    A class given written (an exception the module hands you) is not an exercise.
    """
    try:
        source = kept_stub(module) or (package_directory(LEARNER) / f"{module}.py").read_text()
        names = [node.name for node in ast.parse(source).body
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    except (OSError, SyntaxError):
        return []
    return [name for name in names if stubs_of(source, name)]


def _attempted(module: str, name: str, directory: Path) -> bool:
    """Written at least in part: fewer stubs left than the shipped stub has (``lab/learner/stubs/``; a
    class's given ``__init__`` is not the learner's)."""
    try:
        left = unwritten(module, name, directory)
    except (OSError, SyntaxError):
        return True  # a file that does not parse: its checks say so
    shipped = kept_stub(module)
    if shipped is None:  # nothing to compare with: any part written counts
        return left != [name]
    return len(left) < len(stubs_of(shipped, name))


def exercise_reports(results: list[CheckResult], directory: Path) -> dict[str, list[ExerciseReport]]:
    """Per answers module, one report per exercise; checks that read no exercise go under the module."""
    reports: dict[str, dict[str, ExerciseReport]] = {}
    for result in results:
        module = result.module or f"test_{result.notebook}"
        by_name = reports.setdefault(module, {})
        if not by_name and result.module:
            for name in exercises_in(module):
                by_name[name] = ExerciseReport(module, name, _attempted(module, name, directory))
        exercises = [name for name in result.touches if name in by_name and name]
        for name in exercises or ("",):
            report = by_name.setdefault(name, ExerciseReport(module, name, True))
            report.total += 1
            report.passed += result.passed
            if result.hint is not None:
                report.hints.append(result.hint)
    return {module: list(by_name.values()) for module, by_name in reports.items()}


def check_results(pattern: str, answers: str, timeout: float = CHECK_TIMEOUT_S,
                  within: Path = EXERCISE_TESTS) -> list[CheckResult] | None:
    """Every check whose name holds ``pattern`` (``"nb04"``; ``"nb0"`` for all), in ``within``, run
    against ``answers``; ``None`` (with the reason printed) if the checks wrote no report."""
    # The path, not the name: pytest, run from the checkout, might import another ``exercises``.
    # What the checks print is theirs, not a notebook cell's: their fallbacks are not logged.
    env = {name: value for name, value in os.environ.items() if name != FALLBACK_LOG_VARIABLE}
    env[ANSWERS_VARIABLE] = str(answers_directory(answers))
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "checks.xml"
        try:
            finished = subprocess.run([*checks_command(pattern, within), f"--junitxml={report}"],
                                      cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                                      timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"The checks took more than {timeout:g} s and were stopped: does one of your "
                  "functions wait forever (a recv() without a timeout)?")
            return None
        if not report.is_file():
            print(finished.stdout + finished.stderr)
            return None
        return read_report(report)


def format_notebook(notebook: str, results: list[CheckResult], directory: Path,
                    exercise: str | None = None) -> str:
    """One line per exercise (only ``exercise``'s if given), and each failing check's hint under it.

    ``exercise`` may be one method, ``"Class.method"``: give only the checks that name it
    (``run_checks`` does), and its line is named so.
    """
    lines = []
    for module, exercises in exercise_reports(results, directory).items():
        if exercise is not None:
            owner, _, method = exercise.partition(".")
            exercises = [e for e in exercises if e.name == owner]
            if not exercises:
                continue
            if method:
                exercises[0].name = exercise
        lines.append(f"{notebook} · {module}.py")
        width = max(len(e.name or "(the module)") for e in exercises)
        for report in exercises:  # not `exercise`: that names the one asked for, in every module
            lines.append(f"  {report.name or '(the module)':<{width}}  {report.status}")
            if report.attempted:
                for hint in dict.fromkeys(report.hints):  # each hint once, in order
                    repeats = report.hints.count(hint)
                    lines.append(f"      ✗ {hint}" + (f" (×{repeats})" if repeats > 1 else ""))
    return "\n".join(lines)


def format_summary(results: list[CheckResult], directory: Path) -> str:
    """One line per notebook: how many exercises are done, and how many checks pass."""
    lines = []
    for notebook in sorted({r.notebook for r in results}):
        mine = [r for r in results if r.notebook == notebook]
        exercises = [e for es in exercise_reports(mine, directory).values() for e in es]
        done = sum(e.status == DONE for e in exercises)
        untouched = sum(not e.attempted for e in exercises)
        passed = sum(r.passed for r in mine)
        lines.append(f"{notebook}: {done} of {len(exercises)} exercises done, {untouched} not "
                     f"attempted; {passed} of {len(mine)} checks pass")
    return "\n".join(lines)


def run_checks(notebook: str | None = None, exercise: str | None = None, answers: str = "exercises",
               timeout: float = CHECK_TIMEOUT_S) -> None:
    """Check your answers for one notebook (``"nb04"``), or summarise all notebooks with no argument.

    ``run_checks("nb04", "RequestHandler")`` reports only that exercise (a function or a class),
    for the check cell right under the step that writes it; ``"RequestHandler.reply_to"`` only the
    checks of that method (a check names it with ``@pytest.mark.exercise("RequestHandler.reply_to")``).
    ``answers="solutions"`` checks the reference answers instead.
    """
    module = module_of(notebook, exercise) if notebook and exercise else None
    results = check_results(notebook or "nb0", answers, timeout,
                            check_file_of(module) if module else EXERCISE_TESTS)
    if results is None:
        return
    directory = answers_directory(answers)
    if notebook is None:
        print(format_summary(results, directory))
        return
    if exercise is not None:
        mine = [r for r in results if exercise in r.touches]
        if not mine:
            print(f"No check of {notebook} reads {exercise}: is the name spelled as in the exercise file?")
            return
        print(format_notebook(notebook, mine, directory, exercise))
        owner = exercise.partition(".")[0]
        reports = [e for es in exercise_reports(mine, directory).values() for e in es if e.name == owner]
        if reports and not reports[0].attempted:
            print(f"{exercise} is not written yet: replace its `raise NotImplementedError` in "
                  f"exercises/{reports[0].module}.py with your code, then run this cell again.")
        elif all(r.passed for r in mine):
            print("Its one check passes." if len(mine) == 1 else f"All {len(mine)} checks of {exercise} pass.")
        else:
            print(f"Some checks of {exercise} fail: fix what each hint above points at.")
        return
    print(format_notebook(notebook, results, directory))
    if results and all(r.passed for r in results):
        print(f"All {len(results)} checks for {notebook} pass.")
    else:
        print(f"Some checks for {notebook} fail: write what is not attempted, and fix what each hint above points at.")
