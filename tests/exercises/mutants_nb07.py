"""Mistakes in notebook 07's exercises that its checks must catch (see ``tests/mutation.py``)."""

from mutation import Mutant

MUTANTS = [
    Mutant(module="nb07_compare", exercise="speed_up", mistake="speed_up upside down",
           before="return median(before) / median(after)", after="return median(after) / median(before)",
           hint="before divided by after"),
]
