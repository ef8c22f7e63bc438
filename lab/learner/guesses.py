"""A learner's prediction, written before a measurement, shown beside it afterwards.

A cell asks for a guess (``my_prediction = None  # images per second?``); after the run,
``beside`` puts the guess next to the number. Whatever the learner wrote (nothing, a number, a
number as text, a word) gives a sentence, never an exception: a prediction is for thinking, and a
notebook that stops at a typo teaches nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NOT_PREDICTED = "you did not predict"


@dataclass(frozen=True)
class Guess:
    """What the learner wrote, read as a number where it is one."""

    written: object
    value: float | None

    @property
    def made(self) -> bool:
        return self.written is not None and not (isinstance(self.written, str) and not self.written.strip())


def read_guess(written: object) -> Guess:
    """``None``, ``12``, ``"12.5"`` or ``"about 12"``: the number in it, if there is exactly one."""
    if isinstance(written, bool) or written is None:
        return Guess(written, None)
    if isinstance(written, (int, float)):
        return Guess(written, float(written) if math.isfinite(written) else None)
    if isinstance(written, str):
        numbers = [word for word in written.replace(",", " ").split() if _is_number(word)]
        return Guess(written, float(numbers[0]) if len(numbers) == 1 else None)
    return Guess(written, None)


def _is_number(word: str) -> bool:
    try:
        return math.isfinite(float(word))
    except ValueError:
        return False


def beside(written: object, measured: float, unit: str) -> str:
    """One sentence: the learner's guess, the measurement, and how far apart they are."""
    guess = read_guess(written)
    number = f"{measured:.3g} {unit}"
    if not guess.made:
        return f"Measured {number}; {NOT_PREDICTED} (write a number in the cell above and run both again)."
    if guess.value is None:
        return f"Measured {number}; your prediction {written!r} is not one number, so there is nothing to compare."
    if guess.value <= 0:
        return f"Measured {number}; you predicted {guess.value:g} {unit}."
    ratio = measured / guess.value
    return f"Measured {number}; you predicted {guess.value:g} {unit}: the measurement is {ratio:.2g}× your guess."


def column(written: object) -> str:
    """The learner's guess for a table cell: the number, the text as written, or that there is none."""
    guess = read_guess(written)
    if not guess.made:
        return NOT_PREDICTED
    return f"{guess.value:g}" if guess.value is not None else str(written)
