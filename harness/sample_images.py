"""Every image the lab makes, drawn with Pillow, because the lab cannot download any.

- ``sample_images()``: the notebooks' samples, which cover what the model server must cope with: a
  JPEG photo-sized picture, a PNG with transparency, a grayscale image, a large JPEG.
- ``photos(count, size, format)``: photo-like images of any size; ``photo_jpegs(count)``, eight
  640×480 JPEGs by default, is the workload of the benchmark and of most tests.
- ``picture(size, seed)``: what ``photo`` holds, as a Pillow image; ``encode(image, format)``: a
  Pillow image as the bytes of an image file. ``tests/imagegen.py`` builds its corpus of awkward
  images with them.
- ``padded(image, size)``: an image file made bigger without changing the picture, for a big
  request whose decoding costs no more than the small image's.
- ``NOT_AN_IMAGE``: text that a user uploads by mistake.

All are the same on every run (fixed seeds). They are not photos of ImageNet classes, so even the
real weights will only guess at them; what matters here is that every way of serving the model
gets exactly the same bytes.
"""

from __future__ import annotations

import io
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SEED = 7
#: Width and height of a photo unless told otherwise: a phone picture scaled for the web.
PHOTO_SIZE = (640, 480)
#: A phone camera's photo (12 megapixels), as uploaded without scaling.
PHONE_PHOTO_SIZE = (4032, 3024)
#: The JPEG quality photos are saved at, as a phone saves them.
PHOTO_QUALITY = 90
DEFAULT_DIRECTORY = Path(tempfile.gettempdir()) / "resnet-zmq-lab" / "samples"
#: Something a user might upload by mistake: the model server must refuse it, not crash.
NOT_AN_IMAGE = b"These are the lab notes, saved as text: not an image.\n"


def _sunset() -> Image.Image:
    width, height = 640, 427
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / (height - 1)
        draw.line([(0, y), (width, y)], fill=(int(250 - 120 * t), int(150 - 110 * t), int(60 + 100 * t)))
    draw.ellipse([250, 230, 390, 370], fill=(255, 220, 90))
    draw.rectangle([0, 330, width, height], fill=(30, 40, 70))
    return image


def _shapes(rng: random.Random) -> Image.Image:
    image = Image.new("RGBA", (512, 512), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x, y = rng.randrange(0, 460), rng.randrange(0, 460)
        size = rng.randrange(20, 120)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256), rng.randrange(120, 256))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([x, y, x + size, y + size], fill=colour)
    return image


def _grayscale_rings() -> Image.Image:
    width, height = 300, 400
    image = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(image)
    for radius in range(190, 0, -12):
        draw.ellipse([150 - radius, 200 - radius, 150 + radius, 200 + radius], fill=255 - radius)
    return image


def _large_texture(rng: random.Random) -> Image.Image:
    tile = Image.new("RGB", (64, 64))
    tile.putdata([(rng.randrange(60, 120), rng.randrange(100, 180), rng.randrange(30, 90))
                  for _ in range(64 * 64)])
    return tile.resize((2400, 1600), Image.Resampling.BICUBIC)


def encode(image: Image.Image, format: str, **options: object) -> bytes:
    """``image`` as the bytes of a ``format`` file (``"JPEG"``, ``"PNG"``, ...), saved with
    Pillow's ``options``: what a browser would upload."""
    out = io.BytesIO()
    image.save(out, format=format, **options)
    return out.getvalue()


def _as_photo(image: Image.Image, format: str) -> bytes:
    """Saved as a phone saves a picture: a JPEG at ``PHOTO_QUALITY``, any other format as it comes."""
    return encode(image, format, **({"quality": PHOTO_QUALITY} if format == "JPEG" else {}))


def _pictures(count: int, size: tuple[int, int], seed: int) -> Iterator[Image.Image]:
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    for index in range(count):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * (width / 5) ** 2))
        channels = [
            128 + 100 * np.sin(x / rng.uniform(20, 90) + index) * blob,
            128 + 100 * np.cos(y / rng.uniform(20, 90)) * (1 - blob),
            255 * blob,
        ]
        pixels = np.stack(channels, axis=-1) + rng.normal(0, 6, (height, width, 3))
        yield Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def photos(count: int = 8, size: tuple[int, int] = PHOTO_SIZE, format: str = "JPEG",
           seed: int = 0) -> list[bytes]:
    """``count`` distinct photo-like files of ``size`` (width, height): smooth shapes and sensor-like noise.

    Pure noise would make JPEG decoding slower than for a real photo, flat colour faster; this is
    in between, like a phone picture at quality 90. The same ``count`` and ``seed`` give the same
    bytes; image k of ``photos(n)`` is image k of ``photos(m)`` for any n, m > k.
    """
    return [_as_photo(picture, format) for picture in _pictures(count, size, seed)]


def picture(size: tuple[int, int] = PHOTO_SIZE, seed: int = 0) -> Image.Image:
    """The picture ``photo(size, seed=seed)`` holds, as a Pillow image: to save it in a way of
    one's own (``encode(picture(), "WEBP", lossless=True)``)."""
    return next(_pictures(1, size, seed))


def photo(size: tuple[int, int] = PHOTO_SIZE, format: str = "JPEG", seed: int = 0) -> bytes:
    """One photo-like file: ``photo((1920, 1080), "PNG")``."""
    return photos(1, size, format, seed)[0]


def sample_image_bytes() -> dict[str, bytes]:
    """File name → the bytes of that image file, in a fixed order."""
    rng = random.Random(SEED)
    return {
        "sunset.jpg": _as_photo(_sunset(), "JPEG"),
        "shapes.png": _as_photo(_shapes(rng), "PNG"),
        "rings_grayscale.png": _as_photo(_grayscale_rings(), "PNG"),
        "texture_large.jpg": _as_photo(_large_texture(rng), "JPEG"),
    }


def sample_images(directory: Path | str = DEFAULT_DIRECTORY) -> list[Path]:
    """Write the sample images into ``directory`` (once) and return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in sample_image_bytes().items():
        path = directory / name
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
        paths.append(path)
    return paths


def photo_jpegs(count: int = 8, size: tuple[int, int] = PHOTO_SIZE, seed: int = 0) -> list[bytes]:
    """``count`` distinct photo-like JPEGs, 640×480 unless told: the images every benchmarked system
    and most tests classify (smooth shapes and sensor-like noise, no download)."""
    return photos(count, size, "JPEG", seed)


def padded(image: bytes, size: int) -> bytes:
    """``image`` with zeros after its end, to ``size`` bytes: it decodes as the image it was (a
    JPEG's decoder stops at its end marker)."""
    return image + bytes(max(0, size - len(image)))
