"""Notebook 04 exercises: speaking the model server's wire format by hand."""

from __future__ import annotations

import base64
import json


def encode_image_request(image: bytes) -> bytes:
    """The original write-up's request for one image file, ready for ``socket.send()``."""
    return json.dumps({"image": base64.b64encode(image).decode("ascii")}).encode("utf-8")


def top_predictions(reply: bytes, k: int = 3) -> list[tuple[str, float]]:
    """The ``k`` most probable classes in a reply frame, most probable first."""
    message = json.loads(reply)
    if "error" in message:
        raise RuntimeError(message["error"]["message"])
    ranked = sorted(message["predictions"], key=lambda p: p["probability"], reverse=True)
    return [(p["label"], p["probability"]) for p in ranked[:k]]
