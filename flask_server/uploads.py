"""Reading the uploaded image from a form, decoding it once, and a small preview for the result page.

The uploaded file name is only ever shown (escaped by the template), never used as a path.
"""

from __future__ import annotations

import base64
import io

from flask import Request, g
from PIL import Image

from model_server.images import open_rgb
from model_server.protocol import RequestError

from .errors import UploadError

#: The form field that carries the image, on both ``/uploader`` and ``/api/predict``.
FILE_FIELD = "file"
#: Besides ``image/*``, the content type under which ``/api/predict`` takes the image as the body.
RAW_BODY_TYPE = "application/octet-stream"
PREVIEW_SIZE = (320, 320)


def read_upload(request: Request) -> tuple[str, bytes]:
    """The uploaded file's name and bytes; raises ``UploadError`` when there is nothing to use."""
    upload = request.files.get(FILE_FIELD)
    if upload is None or not upload.filename:
        raise UploadError(
            "no_file", f"no image was uploaded: send it as the form field '{FILE_FIELD}'"
        )
    data = upload.read()
    if not data:
        raise UploadError("empty_file", f"the uploaded file {upload.filename!r} is empty (0 bytes)")
    return upload.filename, data


def _is_raw_image_body(request: Request) -> bool:
    """Whether the request's body is the image itself (``Content-Type: image/...`` or
    ``application/octet-stream``) rather than a form."""
    return request.mimetype.startswith("image/") or request.mimetype == RAW_BODY_TYPE


def read_api_image(request: Request) -> bytes:
    """The image of an ``/api/predict`` request: the form field, or the body sent as the image.

    A raw body spares the client the multipart encoding and the web app its parsing (Werkzeug
    compiles two regular expressions for every form's boundary).
    Raises ``UploadError`` when there is nothing to use.
    """
    if not _is_raw_image_body(request):
        try:
            return read_upload(request)[1]
        except UploadError as error:
            if error.code != "no_file":
                raise
            raise UploadError("no_file", f"{error.message}, or as the request's body with "
                              f"Content-Type image/... or {RAW_BODY_TYPE}") from None
    data = request.get_data(cache=False)
    if not data:
        raise UploadError("empty_file", "the request's body is empty: send the image's bytes as the "
                          f"body, or as the form field '{FILE_FIELD}'")
    return data


def decoded_upload(image: bytes) -> Image.Image:
    """The upload decoded as the model server decodes it (``open_rgb``), once per request.

    The pixels the web app sends the model server and the result page's preview both come
    from it, so the web app decodes each upload once. Raises ``RequestError`` for a file that
    is not a sound image, as the model server would.
    """
    cached = g.get("decoded_upload")
    if cached is not None and cached[0] is image:
        earlier: Image.Image = cached[1]
        return earlier
    decoded = open_rgb(image)
    g.decoded_upload = (image, decoded)
    return decoded


def preview_data_uri(image: bytes) -> str | None:
    """A small JPEG of the image as a ``data:`` URI, or ``None`` if it cannot be made.

    The model server has already accepted the image, so this shows a file known to be sound,
    decoded the way the model server does (16-bit, transparency, orientation): the preview shows
    what the model saw. A preview keeps the page small however large the upload was.
    """
    try:
        preview = decoded_upload(image).copy()
    except RequestError:
        return None
    preview.thumbnail(PREVIEW_SIZE)
    out = io.BytesIO()
    preview.save(out, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")
