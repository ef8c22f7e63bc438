"""Your answers to the notebooks' exercises: one module per notebook.

Each function raises ``NotImplementedError`` until you write it; its docstring says what to do.
Check one notebook's answers from the shell with ``pytest tests/exercises -k nb04`` (or from the
notebook with ``lab.learner.checks.run_checks("nb04")``). Reference answers are in ``solutions/``: try
first, then compare.
"""
