"""``python -m model_server``: the model server's command line (see ``serving.cli``).

``python -m model_server worker …`` runs remote workers, ``python -m model_server keygen …``
writes CURVE keys; ``--help`` on each says more.
"""

import sys

from .serving.cli import main

if __name__ == "__main__":
    sys.exit(main())
