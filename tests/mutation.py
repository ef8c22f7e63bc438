"""Wrong answers a learner is likely to write, made by changing the reference answers one at a time.

A mutant replaces one piece of text in a file of ``solutions/`` (found there exactly once). The
notebook's checks then run against the changed answers, and the report a learner would see must
blame the one exercise the change breaks, with a hint that names the mistake. The mutants of a
notebook are listed in ``tests/exercises/mutants_nbNN.py`` (``MUTANTS``), beside that notebook's
checks, so that whoever adds a check can add the mistake it catches.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO_ROOT / "solutions"


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
