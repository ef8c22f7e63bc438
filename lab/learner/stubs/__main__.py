"""``python -m lab.learner.stubs``: refresh the kept stubs from ``exercises/`` (see this package's ``__init__``)."""

import argparse

from . import main

if __name__ == "__main__":
    argparse.ArgumentParser(
        prog="python -m lab.learner.stubs",
        description="Copy every exercises/ module that is still all stubs into lab/learner/stubs/, the copies "
                    "that 'not attempted' is judged against; refuse (exit 1) for a module with "
                    "something written.").parse_args()
    raise SystemExit(main())
