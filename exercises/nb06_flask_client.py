"""Notebook 06 exercise: a client of the web app's JSON API, with a timeout."""

from __future__ import annotations

import requests  # noqa: F401 (you will need it)


class PredictionFailed(Exception):
    """The web app answered with an error status; ``message`` is what it said went wrong."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def predict_over_http(
    base_url: str, image: bytes, filename: str = "image.jpg", timeout: float = 5.0
) -> list[tuple[str, float]]:
    """Classify an image through the web app's ``POST {base_url}/api/predict``.

    Send the image as a multipart upload in the form field ``"file"`` (with ``requests``:
    ``files={"file": (filename, image)}``) and pass ``timeout`` on, so that a stuck server makes
    ``requests`` raise ``requests.exceptions.Timeout`` instead of waiting forever.
    On status 200 the JSON body has ``"predictions"``: return ``[(label, probability), ...]`` in
    the order given. On any other status the JSON body is ``{"error": {"code", "message"}}``:
    raise ``PredictionFailed(status, message)``.
    """
    raise NotImplementedError("write predict_over_http in exercises/nb06_flask_client.py")
