"""The learner's side of the lab: their answers or the reference ones (``answers``), the numbers they
guess before measuring (``guesses``), the checks of their exercises (``checks``, ``check_hints``) and
the kept copies of the unwritten exercises (``stubs/``)."""
