"""Notebook 07: the learner's before and after beside production, timed with their code (``compare``)."""
