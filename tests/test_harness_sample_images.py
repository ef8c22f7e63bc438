"""``harness.sample_images``: the images the benchmark makes beyond the notebooks' samples (the
photos themselves are checked in ``test_notebook_helpers``)."""

from __future__ import annotations

import numpy as np

from harness.sample_images import padded, photo
from model_server.images import decode_image


def test_a_padded_image_is_as_big_as_asked_and_decodes_to_the_same_pixels() -> None:
    small = photo((64, 48))
    big = padded(small, 100_000)
    assert len(big) == 100_000 and big.startswith(small)
    assert np.array_equal(decode_image(big), decode_image(small))
    assert padded(small, 10) == small  # already bigger: left as it is
