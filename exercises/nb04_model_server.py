"""Notebook 04 exercises: speaking the model server's wire format by hand."""

from __future__ import annotations

import base64  # noqa: F401 (you will need it)
import json  # noqa: F401 (you will need it)


def encode_image_request(image: bytes) -> bytes:
    """The original write-up's request for one image file, ready for ``socket.send()``.

    A JSON object with one field, ``"image"``, whose value is the base64 encoding of the file's
    bytes as a text string: ``{"image": "iVBORw0KGgo..."}``. Return it encoded as UTF-8 bytes.
    Hint: ``base64.b64encode`` returns bytes; JSON needs a ``str``.
    """
    raise NotImplementedError("write encode_image_request in exercises/nb04_model_server.py")


def top_predictions(reply: bytes, k: int = 3) -> list[tuple[str, float]]:
    """The ``k`` most probable classes in a reply frame, most probable first.

    ``reply`` is the JSON the server sent back. A good reply has ``"predictions"``: a list of
    ``{"label", "wnid", "probability"}``. Return ``[(label, probability), ...]``, sorted by
    probability even if the reply lists them in another order. An error reply has
    ``"error": {"code", "message"}`` instead: raise ``RuntimeError`` with the server's message.
    """
    raise NotImplementedError("write top_predictions in exercises/nb04_model_server.py")
