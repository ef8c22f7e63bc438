"""Timing uploads through a web app's ``/uploader`` page, the same way for every web app compared.

Notebook 06 times the production pair and the learner's original-style pair with this one
function, so that the two rows of its table differ only in the servers behind them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness import http
from lab import latencies


class UploadFailed(RuntimeError):
    """An upload that should have been classified got an error page."""


def time_uploads(label: str, base_url: str, images: Sequence[Path], requests: int, timeout_s: float,
                 warmup: int = 1) -> latencies.Summary:
    """``requests`` uploads of ``images`` in turn (after ``warmup`` untimed ones), as the form sends them."""
    seconds = []
    for number in range(warmup + requests):
        image = images[number % len(images)]
        response = http.upload(base_url, image.read_bytes(), image.name, timeout_s)
        if not response.ok:
            raise UploadFailed(f"{label}: uploading {image.name} got HTTP {response.status}")
        if number >= warmup:
            seconds.append(response.seconds)
    return latencies.summarise(label, seconds)
