"""The learner's code where it is written, else the reference answer, said out loud.

Later cells of a notebook use what the learner wrote in ``exercises/`` (their ``median``, their
model server, their test client). Until an exercise is written, a cell must neither fail nor
silently use someone else's code: ``learner_or_reference`` prints which one it is using and why.

The learner's ``exercises`` package is wherever Python imports it from: ``exercises/`` of the
checkout, unless ``PYTHONPATH`` names a directory holding another ``exercises`` package first (the
suite runs notebooks that way, with the stubs or the reference answers copied in, and never
touches the checkout's). Every fallback to the reference is also appended, as one JSON line, to
the file named by ``LAB_FALLBACK_LOG`` when it is set, so that a test can find the cell it
happened in and check that the cell said so.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.processes import package_directory

LEARNER, REFERENCE = "exercises", "solutions"
#: The environment variable naming a file where every fallback to the reference is logged.
FALLBACK_LOG_VARIABLE = "LAB_FALLBACK_LOG"
#: How every announcement of a fallback starts (a notebook cell's output must begin with it).
FALLBACK_OPENING = "Not written yet in exercises/"
USING_YOURS_OPENING = "Using your code: exercises/"


def is_stub(node: ast.FunctionDef | ast.AsyncFunctionDef, strict: bool = False) -> bool:
    """A body of only a docstring and ``raise NotImplementedError(...)``: not written yet.

    A bare ``raise NotImplementedError`` counts too, unless ``strict``: as committed, every stub
    calls it with a message saying what to write where, which a learner sees when a cell runs it.
    """
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    called = isinstance(body[0].exc, ast.Call)
    raised = body[0].exc.func if called else body[0].exc
    return getattr(raised, "id", None) == "NotImplementedError" and (called or not strict)


def stubs_of(source: str, name: str) -> list[str]:
    """Which parts of ``name`` in a module's source are still stubs (a class: its methods).

    ``name`` may also be one method, ``"Class.method"``: ``[name]`` while it is a stub, else ``[]``.
    """
    owner, _, method = name.partition(".")
    if method:
        return [part for part in stubs_of(source, owner) if part in (name, owner)]
    for node in ast.parse(source).body:
        if getattr(node, "name", None) != name:
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return [name] if is_stub(node) else []
        if isinstance(node, ast.ClassDef):
            return [f"{name}.{item.name}" for item in node.body
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and is_stub(item)]
        return []
    return [name]


def unwritten(module: str, name: str, directory: Path | None = None) -> list[str]:
    """Which parts of ``exercises/<module>.py``'s ``name`` are still stubs (a class: its methods)."""
    return stubs_of(((directory or package_directory(LEARNER)) / f"{module}.py").read_text(), name)


def fallback_announcement(module: str, missing: list[str]) -> str:
    """What a cell prints when it uses the reference answer because the learner's is not written."""
    return (f"{FALLBACK_OPENING}{module}.py: {', '.join(missing)}. Using the reference answer "
            f"from solutions/{module}.py for now: write yours, then run this cell again.")


def _log_fallback(module: str, missing: list[str], announcement: str) -> None:
    log = os.environ.get(FALLBACK_LOG_VARIABLE)
    if log:
        with open(log, "a", encoding="utf-8") as file:
            file.write(json.dumps({"module": module, "missing": missing,
                                   "announcement": announcement}) + "\n")


def announce_fallback(module: str, missing: list[str]) -> None:
    """Say, and log (``LAB_FALLBACK_LOG``), that this cell runs the reference answer of ``missing``:
    also in a later cell that uses code an earlier cell chose."""
    announcement = fallback_announcement(module, missing)
    print(announcement, flush=True)
    _log_fallback(module, missing, announcement)


def whose(module: str, *names: str, quiet: bool = False, directory: Path | None = None) -> str:
    """``"exercises"`` if the learner has written all of ``names`` in ``module``, else ``"solutions"``.

    For code that runs in another process (``python -m <whose>.<module>``). Prints the choice;
    ``quiet`` leaves out only "Using your code": a fallback to the reference is always printed.
    """
    missing = [part for name in names for part in unwritten(module, name, directory)]
    if missing:
        announce_fallback(module, missing)
    elif not quiet:
        print(f"{USING_YOURS_OPENING}{module}.py ({', '.join(names)}).", flush=True)
    return REFERENCE if missing else LEARNER


def load(package: str, module: str) -> ModuleType:
    """``exercises.<module>`` or ``solutions.<module>``, reloaded so that a learner's edits count."""
    return importlib.reload(importlib.import_module(f"{package}.{module}"))


def learner_or_reference(module: str, name: str, quiet: bool = False) -> Any:
    """The learner's ``name`` from ``exercises/<module>.py`` if written, else the reference one."""
    return getattr(load(whose(module, name, quiet=quiet), module), name)
