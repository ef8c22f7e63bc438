"""Every module imports and every command the docs name runs, so none can break unnoticed.

The commands are read from the README, the notebooks' README and ``docs/``, not listed here: a command newly
documented is checked from then on. Each runs with ``--help`` (its imports and its argument parser);
``benchmarks.sections.curve_encryption`` takes seconds, so it runs for real.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.processes import REPO_ROOT

DOCUMENTS = [REPO_ROOT / "README.md", REPO_ROOT / "notebooks" / "README.md",
             *sorted((REPO_ROOT / "docs").glob("*.md"))]
PACKAGES = ["model_server", "flask_server", "harness", "lab", "benchmarks"]
#: ``python -m MODULE`` or ``python -m model_server worker|keygen``; pip and pytest are not ours.
PYTHON_COMMAND = re.compile(
    r"python -m ((?:model_server|flask_server|harness|lab|benchmarks)[\w.]*)(?: (worker|keygen)\b)?")
FLASK_COMMAND = re.compile(r"flask --app ([\w.]+)")
#: Seconds a command may take: some import TensorFlow before they parse their arguments.
COMMAND_TIMEOUT_S = 120
#: Commands that must be among those found, so that a change of wording cannot empty the list.
KNOWN = {"model_server", "model_server worker", "model_server keygen", "model_server.test_client",
         "benchmarks", "benchmarks.sections.accuracy", "benchmarks.sections.curve_encryption",
         "harness.bare", "harness.serve"}


def documented_python_commands() -> list[str]:
    found = set()
    for document in DOCUMENTS:
        for module, subcommand in PYTHON_COMMAND.findall(document.read_text()):
            found.add(f"{module} {subcommand}".strip())
    return sorted(found)


def documented_flask_apps() -> list[str]:
    return sorted({app for document in DOCUMENTS for app in FLASK_COMMAND.findall(document.read_text())})


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
                          stdin=subprocess.DEVNULL)


def test_the_docs_name_the_commands_we_know_of():
    assert KNOWN <= set(documented_python_commands())
    assert {"flask_server.app", "flask_server.monolith"} <= set(documented_flask_apps())


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_of_the_package_imports(package):
    """In a fresh interpreter, so that no module leans on another test having imported something."""
    code = (
        "import importlib, pkgutil, sys\n"
        f"package = importlib.import_module({package!r})\n"
        "names = [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + '.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "print(len(names), 'modules')\n"
    )
    finished = run([sys.executable, "-c", code])
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert int(finished.stdout.split()[0]) >= 3


@pytest.mark.parametrize("command", documented_python_commands())
def test_documented_command_answers_help(command):
    finished = run([sys.executable, "-m", *command.split(), "--help"])
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stdout.startswith(f"usage: python -m {command}"), finished.stdout[:300]


@pytest.mark.parametrize("app", documented_flask_apps())
def test_documented_flask_app_loads_with_its_pages(app):
    finished = run([str(Path(sys.executable).parent / "flask"), "--app", app, "routes"])
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert re.search(r"\bPOST\s+/uploader\b", finished.stdout), finished.stdout


def test_curve_benchmark_runs_and_prints_its_ratio():
    finished = run([sys.executable, "-m", "benchmarks.sections.curve_encryption"])
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert re.search(r"CURVE / no keys: round trip ×[\d.]+, first request ×[\d.]+", finished.stdout), \
        finished.stdout
