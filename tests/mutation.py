"""Wrong answers a learner is likely to write, made by changing the reference answers one at a time.

A mutant replaces one piece of text in a file of ``solutions/`` (found there exactly once). The
notebook's checks then run against the changed answers, and the report a learner would see must
blame the one exercise the change breaks, with a hint that names the mistake. The mutants of a
notebook are data, one ``[[mutant]]`` table each in ``tests/exercises/mutants_nbNN.toml``, beside
that notebook's checks, so that whoever adds a check can add the mistake it catches.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, fields
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # the project supports 3.10, whose standard library has no TOML reader
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO_ROOT / "solutions"
TABLES = REPO_ROOT / "tests" / "exercises"


@dataclass(frozen=True)
class Mutant:
    """One mistake: where it is made, which exercise it breaks, and what the hint must say."""

    #: The answers module changed: ``"resnet_model_server"`` is ``solutions/resnet_model_server.py``.
    module: str
    #: The exercise the report must blame, as ``run_checks`` names it: a function or a class.
    exercise: str
    #: The mistake in a few words (the test's id).
    mistake: str
    #: Text of the reference answer, found exactly once in the module ...
    before: str
    #: ... and what the learner wrote instead.
    after: str
    #: Words that a hint under the blamed exercise must contain (compared without case).
    hint: str


def table_of(notebook: str) -> Path:
    """The file listing ``notebook``'s mutants (``"nb04"``: ``tests/exercises/mutants_nb04.toml``)."""
    return TABLES / f"mutants_{notebook}.toml"


def mutants_of(notebook: str) -> list[Mutant]:
    """``notebook``'s mutants in the order of its table.

    A table that is not TOML, a key other than ``mutant`` at its top, or a ``[[mutant]]`` with a
    field missing, unknown or not a string raises ``ValueError`` naming the file: a typo must not
    drop a mistake from the test unseen.
    """
    path = table_of(notebook)
    try:
        document = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not TOML: {error}") from None
    unknown = sorted(set(document) - {"mutant"})
    if unknown:
        raise ValueError(f"{path}: {unknown} at the top; each mistake is a [[mutant]] table")
    tables = document.get("mutant", [])
    if not isinstance(tables, list) or not all(isinstance(table, dict) for table in tables):
        raise ValueError(f"{path}: mutant is not an array of tables; write each as [[mutant]]")
    mutants = []
    for number, table in enumerate(tables, start=1):
        where = f"{path}: [[mutant]] number {number} ({table.get('mistake', 'no mistake')!r})"
        try:
            mutant = Mutant(**table)
        except TypeError as error:  # a field missing or unknown, named by the dataclass
            raise ValueError(f"{where}: {error}") from None
        not_text = [field.name for field in fields(Mutant) if not isinstance(getattr(mutant, field.name), str)]
        if not_text:
            raise ValueError(f"{where}: {not_text} must be strings")
        mutants.append(mutant)
    return mutants


def all_mutants() -> list[tuple[str, Mutant]]:
    """Every table's mutants as ``(notebook, mutant)``, the notebooks in order."""
    notebooks = sorted(path.stem.removeprefix("mutants_") for path in TABLES.glob("mutants_nb[0-9][0-9].toml"))
    return [(notebook, mutant) for notebook in notebooks for mutant in mutants_of(notebook)]


def mutated_answers(mutant: Mutant, target: Path) -> Path:
    """A copy of ``solutions/`` in ``target`` with the mutant's change made; ``target`` returned."""
    target.mkdir(parents=True, exist_ok=True)
    for path in SOLUTIONS.glob("*.py"):
        shutil.copy(path, target / path.name)
    changed = target / f"{mutant.module}.py"
    source = changed.read_text()
    found = source.count(mutant.before)
    if found != 1:
        raise ValueError(f"{mutant.mistake!r}: its text is found {found} times in "
                         f"solutions/{mutant.module}.py, not once")
    changed.write_text(source.replace(mutant.before, mutant.after))
    return target
