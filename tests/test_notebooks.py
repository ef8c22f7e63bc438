"""Every notebook runs top to bottom in a real kernel, and leaves no server behind.

Each notebook is executed cell by cell with nbclient (kernel ``python3`` of this environment, in
``notebooks/``, weights ``random`` so nothing is attempted over the network). Any error fails the
test. After the last cell, and again after the kernel has shut down, no process the kernel started
may still be running: every notebook must stop its servers itself, not leave it to the kernel's exit.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import psutil
import pytest
from nbclient import NotebookClient

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
#: Seconds one cell may take: the slowest start a model server or time several cold processes.
CELL_TIMEOUT_S = 600
#: Seconds one notebook may take in all (pytest-timeout).
NOTEBOOK_TIMEOUT_S = 1200


#: Smaller counts than a learner's run: each cell still measures and shows everything, with fewer
#: repetitions (the defaults, in ``lab/settings.py``, make the notebooks' figures steadier).
SMALLER_COUNTS = {"LAB_COLD_STARTS": "2", "LAB_MONOLITH_REQUESTS": "2", "LAB_SERVER_REQUESTS": "10",
                  "LAB_LOAD_REQUESTS": "16"}


@pytest.fixture
def lab_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What CI runs the notebooks with: untrained weights, no download attempted, smaller counts."""
    monkeypatch.setenv("LAB_WEIGHTS", "random")
    for name, value in SMALLER_COUNTS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.delenv("LAB_ANSWERS", raising=False)


def _alive(processes: set[psutil.Process]) -> list[str]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"pid {process.pid}: {' '.join(process.cmdline())}")
        except psutil.NoSuchProcess:
            continue
    return alive


def run_notebook(path: Path, times: int = 1) -> nbformat.NotebookNode:
    """Execute the notebook ``times`` times in one kernel; fail if a server outlives its last cell."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, kernel_name="python3", timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    started: set[psutil.Process] = set()
    with client.setup_kernel():
        kernel = psutil.Process(client.km.provisioner.pid)
        for _ in range(times):
            for index, cell in enumerate(notebook.cells):
                client.execute_cell(cell, index)
                started.update(kernel.children(recursive=True))
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


@pytest.mark.timeout(NOTEBOOK_TIMEOUT_S)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_and_stops_its_servers(path: Path, lab_environment: None) -> None:
    notebook = run_notebook(path)
    assert "Traceback" not in _stderr_text(notebook), _stderr_text(notebook)


@pytest.mark.timeout(NOTEBOOK_TIMEOUT_S)
def test_a_notebook_runs_twice_in_one_kernel(lab_environment: None) -> None:
    """Run All twice: servers are restarted by name, ports are free again, nothing is left over."""
    run_notebook(NOTEBOOK_DIR / "06_flask_client.ipynb", times=2)


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
