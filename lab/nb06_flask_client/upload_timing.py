"""Timing uploads through a web app's ``/uploader`` page, the same way for every web app compared.

Notebook 06 times the production pair and the learner's original-style pair with this one
function, so that the two rows of its table differ only in the servers behind them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from harness import http
from lab import latencies


class UploadFailed(RuntimeError):
    """An upload that should have been classified got an error page."""


def upload_call(base_url: str, timeout_s: float) -> Callable[[Path], http.WebResponse]:
    """One upload of an image to a web app's ``/uploader``, as the form sends it; an error page raises
    (notebook 07 times its web apps with this too)."""
    def upload(image: Path) -> http.WebResponse:
        response = http.upload(base_url, image.read_bytes(), image.name, timeout_s)
        if not response.ok:
            raise UploadFailed(f"uploading {image.name} to {base_url}/uploader got HTTP {response.status}: "
                               f"{http.main_element(response.body)[:300]}")
        return response
    return upload


def time_uploads(label: str, base_url: str, images: Sequence[Path], requests: int, timeout_s: float,
                 warmup: int = 1) -> latencies.Summary:
    """``requests`` uploads of ``images`` in turn (after ``warmup`` untimed ones), as the form sends them."""
    upload = upload_call(base_url, timeout_s)
    seconds = []
    for number in range(warmup + requests):
        response = upload(images[number % len(images)])
        if number >= warmup:
            seconds.append(response.seconds)
    return latencies.summarise(label, seconds)
