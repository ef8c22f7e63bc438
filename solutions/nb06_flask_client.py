"""Notebook 06 exercise: a client of the web app's JSON API, with a timeout."""

from __future__ import annotations

import requests


class PredictionFailed(Exception):
    """The web app answered with an error status; ``message`` is what it said went wrong."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def predict_over_http(
    base_url: str, image: bytes, filename: str = "image.jpg", timeout: float = 5.0
) -> list[tuple[str, float]]:
    """Classify an image through the web app's ``POST {base_url}/api/predict``."""
    response = requests.post(f"{base_url}/api/predict", files={"file": (filename, image)},
                             timeout=timeout)
    body = response.json()
    if response.status_code != 200:
        raise PredictionFailed(response.status_code, body["error"]["message"])
    return [(p["label"], p["probability"]) for p in body["predictions"]]
