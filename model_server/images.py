"""Turning an uploaded image file into the 224×224 RGB pixels ResNet50 takes, with Pillow.

Any mode becomes RGB (transparency over white, 16-bit and floating-point scaled down), the EXIF
orientation is applied, only the first frame of an animation or a multi-page TIFF is used, and a
file whose pixel count would blow up memory is refused before it is decoded. No TensorFlow here:
decoding is plain CPU work that the server's workers, the web app's preview and the tests do
without the model.
"""

from __future__ import annotations

import io
import re
import struct

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .protocol import PIXELS_DTYPE, PIXELS_SHAPE, ErrorCode, RequestError

MODEL_INPUT_SIZE = (224, 224)
#: Above this many pixels an image is refused before decoding (a decompression bomb is small on
#: disk and huge in memory). 50 megapixels is a 8660×5773 photo, beyond any phone camera.
DEFAULT_MAX_PIXELS = 50_000_000

#: Modes with more than 8 bits per channel (16-bit and 32-bit integers, 32-bit floats).
_HIGH_DEPTH_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}
#: Premultiplied alpha, which Pillow converts to the plain kind but not straight to RGB.
_PREMULTIPLIED = {"La": "LA", "RGBa": "RGBA"}


def decode_image(
    data: bytes, size: tuple[int, int] = MODEL_INPUT_SIZE, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode an image file into a ``size[1]×size[0]×3`` uint8 array; raises ``RequestError``."""
    return resized_pixels(open_rgb(data, max_pixels, draft_size=size), size)


def resized_pixels(image: Image.Image, size: tuple[int, int] = MODEL_INPUT_SIZE) -> np.ndarray:
    """An RGB image from ``open_rgb`` as the ``size[1]×size[0]×3`` uint8 array the model takes."""
    return np.asarray(image.resize(size, Image.Resampling.BILINEAR), dtype=np.uint8)


def pixels_of(frame: bytes) -> np.ndarray:
    """The pixels of a ``"pixels"`` request (already checked by ``decode_request``) as an array."""
    return np.frombuffer(frame, dtype=PIXELS_DTYPE).reshape(PIXELS_SHAPE)


def open_rgb(
    data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, draft_size: tuple[int, int] = MODEL_INPUT_SIZE
) -> Image.Image:
    """The file's first frame, upright and in RGB, at its own size or a little above ``draft_size``.

    Raises ``RequestError`` with a specific code for an empty file, a file that is not an image,
    a corrupt or truncated one, and one above ``max_pixels``.
    """
    if not data:
        raise RequestError("the image is empty (0 bytes)", ErrorCode.EMPTY_IMAGE)
    try:
        image = _open_header(data)
        _check_pixel_count(image, max_pixels)
        # JPEG draft mode decodes at 1/2, 1/4 or 1/8 scale while the result stays at least
        # as large as the target: several times faster, and it is shrunk to 224×224 anyway.
        image.draft("RGB", draft_size)
        image.load()
        image = ImageOps.exif_transpose(image)
        return _to_rgb(image)
    except RequestError:
        raise
    except Image.DecompressionBombError as error:
        raise RequestError(_refused_by_pillow(error, max_pixels), ErrorCode.IMAGE_TOO_LARGE) from None
    except UnidentifiedImageError:
        kind = _format_by_signature(data)
        if kind is not None:
            raise RequestError(
                f"the file starts like a {kind} image but cannot be read: it is truncated or corrupt",
                ErrorCode.UNREADABLE_IMAGE,
            ) from None
        raise RequestError(
            "the file is not an image Pillow can read (try JPEG, PNG, GIF, WebP, BMP or TIFF)",
            ErrorCode.NOT_AN_IMAGE,
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise RequestError(
            f"the image data is truncated or corrupt: {error}", ErrorCode.UNREADABLE_IMAGE
        ) from None


def _open_header(data: bytes) -> Image.Image:
    """The file as ``Image.open`` opens it (its header read, no pixel decoded), without the
    decompression-bomb check ``Image.open`` then runs.

    That check compares the size with the process-wide ``Image.MAX_IMAGE_PIXELS``, and its error
    names neither the size nor our limit, nor honours a ``max_pixels`` above Pillow's. Opening
    through the format's plugin, as ``Image.open`` does, lets ``_check_pixel_count`` refuse with
    both, and leaves Pillow's setting, and so its guard for every other image the process opens,
    as it is. The checks some plugins make themselves (WebP's canvas, a GIF frame larger than its
    screen) still run, against Pillow's limit; ``open_rgb`` words their refusal as ours.
    """
    Image.init()
    prefix = data[:16]
    for kind in Image.ID:
        factory, accept = Image.OPEN[kind]
        try:
            recognised = accept is None or accept(prefix)
            if recognised and not isinstance(recognised, str):  # a string says why not
                return factory(io.BytesIO(data), "")
        except (SyntaxError, IndexError, TypeError, struct.error):  # not this format after all
            continue
    raise UnidentifiedImageError("cannot identify image file")


def _format_by_signature(data: bytes) -> str | None:
    """The format whose signature the file starts with, by Pillow's own checks, or ``None``.

    Pillow cannot open a TIFF whose directory (written at the end by libtiff) was cut off, and
    then says only that it found no format: this tells such a file from one that is no image.
    """
    Image.init()
    prefix = data[:16]
    for kind, (_, accept) in Image.OPEN.items():
        try:
            if accept is not None and accept(prefix):
                return kind
        except (SyntaxError, IndexError, TypeError, struct.error):  # a prefix too short to tell
            continue
    return None


def _check_pixel_count(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise RequestError(f"the image is {width}×{height}: it has no pixels", ErrorCode.UNREADABLE_IMAGE)
    if width * height > max_pixels:
        raise RequestError(
            f"the image is {width}×{height} ({width * height / 1e6:.0f} megapixels); "
            f"the limit is {max_pixels / 1e6:g} megapixels",
            ErrorCode.IMAGE_TOO_LARGE,
        )


def _refused_by_pillow(error: Image.DecompressionBombError, max_pixels: int) -> str:
    """Our message for an image Pillow's own check refused inside a plugin, before ours could run
    (WebP checks its canvas while reading the header): Pillow's error gives the pixel count only."""
    found = re.search(r"\((\d+) pixels\)", str(error))
    size = f"{int(found[1]) / 1e6:.0f} megapixels" if found else "too large for Pillow to decode safely"
    return f"the image is {size}; the limit is {max_pixels / 1e6:g} megapixels"


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in _HIGH_DEPTH_MODES:
        return _scaled_to_8_bits(image).convert("RGB")
    if image.mode in _PREMULTIPLIED:
        image = image.convert(_PREMULTIPLIED[image.mode])
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _scaled_to_8_bits(image: Image.Image) -> Image.Image:
    """Greyscale with more than 8 bits, scaled by its likely range rather than clipped at 255.

    The range is a guess from the brightest pixel: 0–1 for floating point (the usual convention),
    0–255 for data that never exceeds it, 0–65535 otherwise. NaN and infinities count as black.
    """
    pixels = np.asarray(image, dtype=np.float64)
    pixels = np.where(np.isfinite(pixels), pixels, 0.0)
    brightest = pixels.max(initial=0.0)
    if image.mode == "F" and brightest <= 1.0:
        peak = 1.0
    else:
        peak = 255.0 if brightest <= 255 else 65535.0
    return Image.fromarray(np.clip(pixels * (255.0 / peak), 0, 255).astype(np.uint8), mode="L")
