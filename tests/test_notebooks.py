"""Every notebook runs top to bottom in a real kernel, and leaves no server behind.

Each notebook is executed cell by cell with nbclient (kernel ``python3`` of this environment, in
``notebooks/``, weights ``random`` so nothing is attempted over the network). Any error fails the
test. After the last cell, and again after the kernel has shut down, no process the kernel started
may still be running: every notebook must stop its servers itself, not leave it to the kernel's exit.

Whose answers a notebook runs: never the checkout's ``exercises/`` (a learner running the suite on
their own work must neither lose it nor have it decide the result). Each notebook gets its own
``exercises`` package in a temporary directory, put first on the kernel's ``PYTHONPATH``, which
``lab.learner.answers``, ``run_checks`` and the servers the notebook starts all use. Notebooks 03, 04, 07
and 08 run as a learner who has written every exercise up to that notebook (the reference
answers copied in: their own code runs), the others with the stubs as shipped: every fallback to
the reference is then logged (``LAB_FALLBACK_LOG``), and the cell it happened in must say so at
the top of its output. Each notebook still runs once.

Two notebooks run at a time, each in a kernel of its own with an environment of its own: a
notebook spends most of its time waiting on the servers and processes it started, and run one
after another they took most of the suite's time.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
import pytest
from nbclient import NotebookClient

from lab.learner import answers, stubs

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
#: Seconds one cell may take: the slowest start a model server or time several cold processes.
CELL_TIMEOUT_S = 600
#: Seconds one notebook may take in all (pytest-timeout), waiting for its turn included.
NOTEBOOK_TIMEOUT_S = 1200
#: Notebooks run at once.
AT_ONCE = 2


#: Smaller counts than a learner's run: each cell still measures and shows everything, with fewer
#: repetitions (the defaults, in ``lab/settings.py``, make the notebooks' figures steadier).
SMALLER_COUNTS = {"LAB_COLD_STARTS": "1", "LAB_MONOLITH_REQUESTS": "1", "LAB_SERVER_REQUESTS": "10",
                  "LAB_LOAD_REQUESTS": "16"}


#: Run All twice in one kernel, as a learner does: its servers are restarted by name, their ports
#: are free again and nothing is left over (one notebook that starts every kind of server is enough).
RUN_TWICE = "06"
#: The notebooks run with the learner's code in place (every exercise up to theirs written).
ANSWERS_IN_PLACE = ("03", "04", "07", "08")
#: A notebook that runs the learner's code where written (``lab.learner.answers``, directly or through lab).
USES_ANSWERS = re.compile(r"answers\.(whose|learner_or_reference)|with_learners_code|learners_arithmetic")


def lab_environment(root: Path, number: str) -> dict[str, str]:
    """What CI runs notebook ``number`` with: untrained weights, no download attempted, smaller
    counts, fallbacks logged to ``root``, and an ``exercises`` package in ``root`` first on the
    kernel's path (``lab.learner.stubs.copy_into``: the stubs, with the reference answers of the
    notebook and those before it where the learner's code runs)."""
    stubs.copy_into(root / "exercises", f"nb{number}" if number in ANSWERS_IN_PLACE else None)
    path = os.pathsep.join(p for p in (str(root), str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    environment = {**os.environ, "LAB_WEIGHTS": "random", **SMALLER_COUNTS, "TF_CPP_MIN_LOG_LEVEL": "2",
                   answers.FALLBACK_LOG_VARIABLE: str(root / "fallbacks.jsonl"), "PYTHONPATH": path}
    environment.pop("LAB_ANSWERS", None)
    return environment


def _alive(processes: set[psutil.Process]) -> list[str]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"pid {process.pid}: {' '.join(process.cmdline())}")
        except psutil.NoSuchProcess:
            continue
    return alive


def _text_of(cell: nbformat.NotebookNode) -> str:
    return "".join(output.get("text", "") for output in cell.get("outputs", [])
                   if output.get("output_type") == "stream")


def announced_at_the_top(cell: nbformat.NotebookNode, announcements: list[str]) -> list[str]:
    """The announcements that are not among the lines the cell's output starts with (the lines
    saying whose code it used)."""
    first = cell.outputs[0] if cell.get("outputs") else None
    if first is None or first.get("output_type") != "stream" or first.get("name") != "stdout":
        return announcements
    top = []
    for line in _text_of(cell).splitlines():
        if not line.startswith((answers.FALLBACK_OPENING, answers.USING_YOURS_OPENING)):
            break
        top.append(line)
    return [announcement for announcement in announcements if announcement not in top]


def _new_fallbacks(log: Path, seen: int) -> list[dict[str, object]]:
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()[seen:]]


def run_notebook(path: Path, environment: dict[str, str], times: int = 1) -> nbformat.NotebookNode:
    """Execute the notebook ``times`` times in one kernel started with ``environment``; fail if a
    server outlives its last cell, or if a cell used a reference answer (``LAB_FALLBACK_LOG``)
    without saying so at its top."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, kernel_name="python3", timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    started: set[psutil.Process] = set()
    log = Path(environment.get(answers.FALLBACK_LOG_VARIABLE) or os.devnull)
    seen = 0
    with client.setup_kernel(env=environment):
        kernel = psutil.Process(client.km.provisioner.pid)
        for _ in range(times):
            for index, cell in enumerate(notebook.cells):
                client.execute_cell(cell, index)
                started.update(kernel.children(recursive=True))
                fallbacks = _new_fallbacks(log, seen)
                seen += len(fallbacks)
                unsaid = announced_at_the_top(cell, [str(f["announcement"]) for f in fallbacks])
                assert not unsaid, (f"{path.name} cell {index + 1} used a reference answer without saying "
                                    f"so at the top of its output: {unsaid}\n{_text_of(cell)[:2000]}")
            left = _alive(set(kernel.children(recursive=True)) | started)
            assert not left, f"{path.name} left processes running after its last cell:\n" + "\n".join(left)
    assert not _alive(started), f"processes outlived the kernel of {path.name}"
    return notebook


def _stderr_text(notebook: nbformat.NotebookNode) -> str:
    return "\n".join(
        output.get("text", "")
        for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.outputs if output.get("name") == "stderr"
    )


@dataclass(frozen=True)
class NotebookRun:
    """A notebook's run under way (``run_notebook``'s result once done), and where it logs fallbacks."""

    run: Future[nbformat.NotebookNode]
    fallback_log: Path


@pytest.fixture(scope="module")
def notebook_runs(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[Path, NotebookRun]]:
    """The run of every notebook whose test is selected, ``AT_ONCE`` at a time in their order,
    started when the first is asked for; each test waits for its own. Those not yet begun when
    the module ends are cancelled."""
    selected = {item.callspec.params["path"] for item in request.session.items
                if getattr(item, "originalname", None) == "test_notebook_runs_top_to_bottom_and_stops_its_servers"}
    with ThreadPoolExecutor(AT_ONCE, thread_name_prefix="notebook") as pool:
        runs = {}
        for path in (path for path in NOTEBOOKS if path in selected):
            number = path.name[:2]
            environment = lab_environment(tmp_path_factory.mktemp(f"notebook-{number}"), number)
            run = pool.submit(run_notebook, path, environment, 2 if number == RUN_TWICE else 1)
            runs[path] = NotebookRun(run, Path(environment[answers.FALLBACK_LOG_VARIABLE]))
        try:
            yield runs
        finally:
            for started in runs.values():
                started.run.cancel()


@pytest.mark.timeout(NOTEBOOK_TIMEOUT_S)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_and_stops_its_servers(path: Path, notebook_runs: dict[Path, NotebookRun]) -> None:
    number = path.name[:2]
    notebook = notebook_runs[path].run.result(timeout=NOTEBOOK_TIMEOUT_S)
    assert "Traceback" not in _stderr_text(notebook), _stderr_text(notebook)
    log = notebook_runs[path].fallback_log
    fallbacks = _new_fallbacks(log, 0)
    if number not in ANSWERS_IN_PLACE and USES_ANSWERS.search(path.read_text()):
        assert fallbacks, f"{path.name} ran with the stubs, yet no fallback reached {log}: is it logged?"
    if number in ANSWERS_IN_PLACE:
        mine = {m for m in stubs.modules() if stubs.notebook_of(m) <= f"nb{number}"}
        assert not [f for f in fallbacks if f["module"] in mine], (
            f"{path.name} used a reference answer though the learner's is written: {fallbacks}")


def test_a_fallback_is_announced_only_at_the_top_of_its_cell() -> None:
    said = answers.fallback_announcement("nb02_monolith", ["time_call"])
    yours = f"{answers.USING_YOURS_OPENING}nb07_compare.py (median)."

    def cell(*texts: str) -> nbformat.NotebookNode:
        made = nbformat.v4.new_code_cell()
        made.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text) for text in texts]
        return made

    assert announced_at_the_top(cell(f"{yours}\n{said}\n", "0.42 s\n"), [said]) == []
    assert announced_at_the_top(cell("0.42 s\n", f"{said}\n"), [said]) == [said], "said after a result"
    assert announced_at_the_top(cell(), [said]) == [said], "not said at all"
    assert announced_at_the_top(cell("0.42 s\n"), []) == []


def test_a_learners_exercises_hold_the_answers_up_to_their_notebook(tmp_path: Path) -> None:
    exercises = stubs.copy_into(tmp_path / "exercises", "nb04")
    assert not stubs.written_in((exercises / "nb07_compare.py").read_text()), "notebook 07's is still a stub"
    for module in ("nb02_monolith", "nb03_routing", "resnet_model_server", "test_client"):
        assert (exercises / f"{module}.py").read_text() == (REPO_ROOT / "solutions" / f"{module}.py").read_text()
    assert answers.unwritten("nb03_routing", "reply_to", exercises) == []


def test_the_six_notebooks_are_there_in_order() -> None:
    numbers = [path.name[:2] for path in NOTEBOOKS]
    assert numbers[:6] == ["01", "02", "03", "04", "05", "06"], numbers


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {index} has outputs: clear them before committing"
            assert cell.execution_count is None, f"{path.name} cell {index} has an execution count"
    assert "widgets" not in notebook.metadata, f"{path.name} carries saved widget state"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_opens_with_its_numbered_title_and_ends_by_stopping_servers(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    first, last = notebook.cells[0], notebook.cells[-1]
    assert first.cell_type == "markdown" and re.match(rf"# {path.name[:2]} · ", first.source), first.source
    assert last.cell_type == "code" and "processes.stop_all()" in last.source, last.source
