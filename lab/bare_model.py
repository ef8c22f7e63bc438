"""The bare model's limit, measured in a process of its own: ``python -m benchmarks.bare``.

The caller (the benchmark, notebook 08) never imports TensorFlow; the measurement's JSON comes
back as a dict.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Sequence

from model_server.protocol import F32, TENSORFLOW

from .load import MeasurementFailed
from .processes import REPO_ROOT

BATCH_SIZES = (1, 2, 4, 8, 16)
#: Timed runs of a batch of one; larger batches get proportionally fewer (at least 5).
REPEATS = 15
#: Lines of the subprocess's stderr kept in the error when it fails.
ERROR_TAIL_LINES = 20


def measure_in_subprocess(
    repeats: int = REPEATS, batch_sizes: Sequence[int] = BATCH_SIZES, runtime: str = TENSORFLOW,
    precision: str = F32,
) -> dict:
    """``benchmarks.bare.measure()`` in a fresh ``python -m benchmarks.bare``.

    The JSON's ``batches`` keys come back as strings (``"8"``), as JSON has them.
    """
    argv = [sys.executable, "-m", "benchmarks.bare", "--repeats", str(repeats),
            "--batch-sizes", *(str(size) for size in batch_sizes), "--runtime", runtime,
            "--precision", precision]
    finished = subprocess.run(argv, capture_output=True, text=True, cwd=REPO_ROOT)
    if finished.returncode != 0:
        tail = "\n".join(finished.stderr.splitlines()[-ERROR_TAIL_LINES:])
        raise MeasurementFailed(
            f"python -m benchmarks.bare exited with code {finished.returncode}:\n{tail}")
    return json.loads(finished.stdout)
