"""The images every benchmarked system classifies: photo-sized JPEGs made here, no download."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

PHOTO_SIZE = (640, 480)


def photo_jpegs(count: int = 8, size: tuple[int, int] = PHOTO_SIZE, seed: int = 0) -> list[bytes]:
    """``count`` distinct 640×480 JPEGs with smooth shapes and sensor-like noise.

    Pure noise would make JPEG decoding slower than for a real photo, flat colour faster; this is
    in between, like a phone picture at quality 90.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    images = []
    for index in range(count):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * (width / 5) ** 2))
        channels = [
            128 + 100 * np.sin(x / rng.uniform(20, 90) + index) * blob,
            128 + 100 * np.cos(y / rng.uniform(20, 90)) * (1 - blob),
            255 * blob,
        ]
        pixels = np.stack(channels, axis=-1) + rng.normal(0, 6, (height, width, 3))
        out = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=90)
        images.append(out.getvalue())
    return images
