"""The bare model's limit, measured in a process of its own: ``python -m harness.bare``.

The caller (the benchmark, notebook 08) never imports TensorFlow; the measurement's JSON comes
back as a dict. ``measure_in_subprocess`` loads the model for one measurement;
``BareModelProcess`` keeps it loaded, for measurements interleaved with a server's.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from harness.processes import REPO_ROOT
from model_server.protocol import F32, TENSORFLOW

from ..stats import MeasurementFailed

BATCH_SIZES = (1, 2, 4, 8, 16)
#: Timed runs of a batch of one; larger batches get proportionally fewer (at least 5).
REPEATS = 15
#: Lines of the subprocess's stderr kept in the error when it fails.
ERROR_TAIL_LINES = 20


def bare_name(runtime: str, precision: str) -> str:
    """How the benchmark's rounds name a bare model: ``bare tensorflow f32``."""
    return f"bare {runtime} {precision}"


def _bare_command(runtime: str, precision: str, *args: str) -> list[str]:
    """``python -m harness.bare`` for ``runtime`` at ``precision``, by this interpreter."""
    return [sys.executable, "-m", "harness.bare", "--runtime", runtime, "--precision", precision, *args]


def measure_in_subprocess(
    repeats: int = REPEATS, batch_sizes: Sequence[int] = BATCH_SIZES, runtime: str = TENSORFLOW,
    precision: str = F32,
) -> dict[str, Any]:
    """``harness.bare.model.measure()`` in a fresh ``python -m harness.bare``.

    The JSON's ``batches`` keys come back as strings (``"8"``), as JSON has them.
    """
    argv = _bare_command(runtime, precision, "--repeats", str(repeats),
                         "--batch-sizes", *(str(size) for size in batch_sizes))
    finished = subprocess.run(argv, capture_output=True, text=True, cwd=REPO_ROOT)
    if finished.returncode != 0:
        tail = "\n".join(finished.stderr.splitlines()[-ERROR_TAIL_LINES:])
        raise MeasurementFailed(
            f"python -m harness.bare exited with code {finished.returncode}:\n{tail}")
    measured: dict[str, Any] = json.loads(finished.stdout)
    return measured


#: Seconds a bare-model process may take to load its model, and then to answer one measurement.
START_TIMEOUT_S = 300.0
ANSWER_TIMEOUT_S = 120.0


class BareModelProcess:
    """``python -m harness.bare --serve``: the bare model, loaded once, measured on demand.

    ``limits(batch_sizes, repeats)`` answers as ``measure_in_subprocess`` does, minus the load;
    ``forward_ms()`` times one pass of one image. Every read has a timeout; a process that exits
    or does not answer raises ``MeasurementFailed`` with the end of its stderr.
    """

    def __init__(self, runtime: str = TENSORFLOW, precision: str = F32):
        self.name = bare_name(runtime, precision)
        self._process = subprocess.Popen(
            _bare_command(runtime, precision, "--serve"), cwd=REPO_ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            self._read(START_TIMEOUT_S)  # {"ready": true, ...}
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int:
        return self._process.pid

    def limits(self, batch_sizes: Sequence[int], repeats: int, min_repeats: int = 2) -> dict[str, Any]:
        assert self._process.stdin is not None
        asked = {"batch_sizes": list(batch_sizes), "repeats": repeats, "min_repeats": min_repeats}
        self._process.stdin.write((json.dumps(asked) + "\n").encode())
        self._process.stdin.flush()
        return self._read(ANSWER_TIMEOUT_S)

    def forward_ms(self) -> float:
        return float(self.limits([1], repeats=1, min_repeats=1)["latency_ms"])

    def _read(self, timeout: float) -> dict[str, Any]:
        stdout = self._process.stdout
        assert stdout is not None
        readable, _, _ = select.select([stdout], [], [], timeout)
        line = stdout.readline() if readable else b""
        if not line:
            self.close()
            stderr = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
            tail = "\n".join(stderr.splitlines()[-ERROR_TAIL_LINES:])
            raise MeasurementFailed(f"{self.name} did not answer within {timeout:.0f} s:\n{tail}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()

    def __enter__(self) -> BareModelProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
