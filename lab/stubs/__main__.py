"""``python -m lab.stubs``: refresh the kept stubs from ``exercises/`` (see ``lab/stubs/__init__.py``)."""

from . import main

raise SystemExit(main())
