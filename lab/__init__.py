"""What the notebooks' cells call, found by the notebook's name.

``nbNN_<notebook>/`` serves ``notebooks/NN_<notebook>.ipynb`` alone, its modules named for what
they do; what several notebooks share sits beside them: ``settings`` (the ``LAB_*`` variables),
``latencies`` (a way of serving's request times summed up for a table), ``monolith/`` (notebook
02's monolith run cold or in a web app, timed), ``show/`` (tables, pictures, plots, progress bars)
and ``learner/`` (the learner's answers, guesses, checks and kept stubs). Starting servers, making
images, sending load and the statistics are ``harness/``'s.
"""
