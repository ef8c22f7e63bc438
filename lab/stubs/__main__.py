"""``python -m lab.stubs``: refresh the kept stubs from ``exercises/`` (see ``lab/stubs/__init__.py``)."""

import argparse

from . import main

if __name__ == "__main__":
    argparse.ArgumentParser(
        prog="python -m lab.stubs",
        description="Copy every exercises/ module that is still all stubs into lab/stubs/, the copies "
                    "that 'not attempted' is judged against; refuse (exit 1) for a module with "
                    "something written.").parse_args()
    raise SystemExit(main())
