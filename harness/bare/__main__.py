"""``python -m harness.bare``: the bare model measured in this process (``harness.bare.model``)."""

from .model import main

if __name__ == "__main__":
    raise SystemExit(main())
