"""Notebook 05 exercises: the widget's upload handler, without the widget."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from model_server.protocol import ServerError


def file_from_upload(value: Sequence[Any]) -> tuple[str, bytes] | None:
    """The name and bytes of the first file in an ipywidgets 8 ``FileUpload.value``."""
    if not value:
        return None
    return value[0]["name"], bytes(value[0]["content"])


def upload_message(value: Sequence[Any], client: Any) -> str:
    """What the widget shows after an upload: one line of text, and never an exception."""
    uploaded = file_from_upload(value)
    if uploaded is None:
        return "Choose an image."
    try:
        reply = client.predict(uploaded[1])
    except ServerError as error:
        return f"Error: {error.message}"
    return ", ".join(f"{p.label} {p.probability:.1%}" for p in reply.predictions)
