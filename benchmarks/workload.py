"""The images every benchmarked system classifies: photo-like JPEGs made here, no download."""

from __future__ import annotations

from lab.sample_images import PHOTO_SIZE, photos


def photo_jpegs(count: int = 8, size: tuple[int, int] = PHOTO_SIZE, seed: int = 0) -> list[bytes]:
    """``count`` distinct 640×480 JPEGs with smooth shapes and sensor-like noise (``lab.sample_images.photos``)."""
    return photos(count, size, "JPEG", seed)
