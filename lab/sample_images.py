"""Sample images drawn with Pillow, because the lab cannot download any.

They are the same on every run (a fixed seed) and cover what the model server must cope with: a
JPEG photo-sized picture, a PNG with transparency, a grayscale image, a large JPEG. They are not
photos of ImageNet classes, so even the real weights will only guess at them; what matters here is
that every way of serving the model gets exactly the same bytes.
"""

from __future__ import annotations

import io
import random
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

SEED = 7
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


def _encode(image: Image.Image, format: str) -> bytes:
    out = io.BytesIO()
    options = {"quality": 90} if format == "JPEG" else {}
    image.save(out, format=format, **options)
    return out.getvalue()


def sample_image_bytes() -> dict[str, bytes]:
    """File name → the bytes of that image file, in a fixed order."""
    rng = random.Random(SEED)
    return {
        "sunset.jpg": _encode(_sunset(), "JPEG"),
        "shapes.png": _encode(_shapes(rng), "PNG"),
        "rings_grayscale.png": _encode(_grayscale_rings(), "PNG"),
        "texture_large.jpg": _encode(_large_texture(rng), "JPEG"),
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
