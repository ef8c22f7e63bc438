"""Notebook 05 exercises: the widget's upload handler, without the widget."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def file_from_upload(value: Sequence[Any]) -> tuple[str, bytes] | None:
    """The name and bytes of the first file in an ipywidgets 8 ``FileUpload.value``.

    The value is a tuple of dicts, one per file, each with ``"name"``, ``"type"``, ``"size"``,
    ``"last_modified"`` and ``"content"``; ``content`` is a ``memoryview``, so turn it into
    ``bytes``. Return ``None`` when nothing has been uploaded (an empty tuple).
    """
    raise NotImplementedError("write file_from_upload in exercises/nb05_widget.py")


def upload_message(value: Sequence[Any], client: Any) -> str:
    """What the widget shows after an upload: one line of text, and never an exception.

    - Nothing uploaded: return ``"Choose an image."``
    - Otherwise call ``client.predict(image_bytes)``; it returns a reply whose ``.predictions``
      are objects with ``.label`` and ``.probability``. Return them joined by ``", "``, each as
      label and percentage with one decimal, e.g. ``"tabby 81.2%, tiger cat 9.5%, lynx 2.0%"``.
    - If ``predict`` raises ``model_server.protocol.ServerError`` (not an image, server down,
      too slow), return ``"Error: "`` followed by the error's ``.message``.
    """
    raise NotImplementedError("write upload_message in exercises/nb05_widget.py")
