"""The images every benchmarked system classifies: photo-like JPEGs drawn by ``harness.sample_images``,
no download. A workload of other sizes or formats is ``harness.sample_images.photos(count, size, format)``."""

from __future__ import annotations

from harness.sample_images import PHOTO_SIZE, photos


def photo_jpegs(count: int = 8, size: tuple[int, int] = PHOTO_SIZE, seed: int = 0) -> list[bytes]:
    """``count`` distinct photo-like JPEGs, 640×480 unless told: smooth shapes and sensor-like noise."""
    return photos(count, size, "JPEG", seed)
