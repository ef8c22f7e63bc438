"""The exercise stubs as the lab ships them: one untouched copy of each ``exercises/`` module.

``lab.learner.checks`` judges "not attempted" against these copies (an exercise is attempted once it has
fewer stubs left than its copy here), and the suite checks the stubs from here, so that a learner
who edits or commits ``exercises/`` changes neither. Nothing imports the modules in this folder:
they are kept as text.

After changing a stub in ``exercises/``, refresh the copies with::

    python -m lab.learner.stubs

It copies every ``exercises/<module>.py`` in which nothing is written yet, and refuses a module
in which something is (that is someone's work, not a stub). ``tests/test_exercises.py`` fails,
naming the file, while an untouched ``exercises/`` module and its copy here differ.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from ..answers import is_stub

KEPT = Path(__file__).resolve().parent
#: The copies are data, not modules: nothing imports, lints or type-checks a stub kept here.
SUFFIX = ".py.stub"
REPO_ROOT = KEPT.parents[2]
EXERCISES, SOLUTIONS = REPO_ROOT / "exercises", REPO_ROOT / "solutions"
CHECKS = REPO_ROOT / "tests" / "exercises"
#: Methods a stub class may keep written: they are given, not exercises.
GIVEN = frozenset({"__init__", "__enter__", "__exit__"})


def modules() -> list[str]:
    """The exercise modules kept here (``nb02_monolith``, ``resnet_model_server``, ...)."""
    return sorted(path.name.removesuffix(SUFFIX) for path in KEPT.glob(f"*{SUFFIX}"))


def kept_stub(module: str) -> str | None:
    """The source of ``exercises/<module>.py`` as shipped; ``None`` for a module not kept here."""
    path = KEPT / f"{module}{SUFFIX}"
    return path.read_text() if path.is_file() else None


def exercise_functions(source: str) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """The functions and methods (``Server.start``) a learner writes: all but private and given ones."""
    found: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.parse(source).body:
        if isinstance(node, functions):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            found.update({f"{node.name}.{item.name}": item for item in node.body
                          if isinstance(item, functions) and item.name not in GIVEN})
    return {name: f for name, f in found.items() if not name.split(".")[-1].startswith("_")}


def written_in(source: str) -> list[str]:
    """The exercise functions of a module's source that are no longer stubs (empty: untouched)."""
    return [name for name, node in exercise_functions(source).items() if not is_stub(node, strict=True)]


def check_file_of(module: str) -> Path:
    """The checks of ``<module>.py``: ``tests/exercises/test_nb04_test_client.py`` checks
    ``test_client``, ``test_nb02_monolith.py`` checks ``nb02_monolith``."""
    for check_file in sorted(CHECKS.glob("test_nb[0-9][0-9]_*.py")):
        if check_file.stem.endswith(f"_{module}"):
            return check_file
    raise LookupError(f"no checks in tests/exercises/ read exercises/{module}.py")


def notebook_of(module: str) -> str:
    """The notebook (``"nb04"``) whose checks read ``<module>.py`` (``check_file_of``)."""
    return check_file_of(module).stem[5:9]


def copy_into(target: Path, answered_up_to: str | None = None) -> Path:
    """An ``exercises`` package of the shipped stubs in ``target`` (a directory named ``exercises``),
    with the reference answer of every module of notebook ``answered_up_to`` (``"nb04"``) and of
    the notebooks before it copied in: what a learner who got that far has written."""
    target.mkdir(parents=True, exist_ok=True)
    (target / "__init__.py").write_text((EXERCISES / "__init__.py").read_text())
    for module in modules():
        answered = answered_up_to is not None and notebook_of(module) <= answered_up_to
        source = (SOLUTIONS / f"{module}.py").read_text() if answered else kept_stub(module)
        (target / f"{module}.py").write_text(source or "")
    return target


def refresh(exercises: Path = EXERCISES) -> list[str]:
    """Copy each untouched ``exercises/`` module here; the modules refused (something written)."""
    refused = []
    shipped = {path.stem: path for path in exercises.glob("*.py") if not path.name.startswith("_")}
    for module, path in sorted(shipped.items()):
        source = path.read_text()
        if written_in(source):
            refused.append(module)
        elif kept_stub(module) != source:
            (KEPT / f"{module}{SUFFIX}").write_text(source)
            print(f"lab/learner/stubs/{module}{SUFFIX} refreshed from exercises/{module}.py")
    for module in set(modules()) - set(shipped):
        (KEPT / f"{module}{SUFFIX}").unlink()
        print(f"lab/learner/stubs/{module}{SUFFIX} removed: exercises/{module}.py is gone")
    return refused


def main() -> int:
    refused = refresh()
    for module in refused:
        written = written_in((EXERCISES / f"{module}.py").read_text())
        print(f"exercises/{module}.py is not a stub (written: {', '.join(written)}); its kept copy "
              "is unchanged", file=sys.stderr)
    return 1 if refused else 0
