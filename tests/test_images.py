"""Decoding uploads with Pillow: every awkward image becomes 224×224 RGB, or a specific refusal."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import imagegen
from harness.processes import REPO_ROOT
from harness.sample_images import NOT_AN_IMAGE, photo
from model_server.images import decode_image
from model_server.protocol import ErrorCode, RequestError
from refusals import assert_refused

USABLE_IMAGES = [
    pytest.param(photo(), id="jpeg-640x480"),
    pytest.param(photo(format="PNG"), id="png"),
    *(pytest.param(image, id=name) for name, image in imagegen.awkward_images().items()),
]


@pytest.mark.parametrize("image", USABLE_IMAGES)
def test_usable_image_becomes_224x224_rgb_uint8(image):
    pixels = decode_image(image)
    assert pixels.shape == (224, 224, 3)
    assert pixels.dtype == np.uint8


def close_to(pixel, colour, tolerance=12) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(colour)) <= tolerance))


def test_exif_orientation_is_applied():
    """Stored sideways (red left, blue right), shown upright: red on top, blue at the bottom."""
    pixels = decode_image(imagegen.exif_rotated_jpeg())
    top_right, bottom_left = pixels[5, 218], pixels[218, 5]
    assert close_to(top_right, imagegen.RED), top_right
    assert close_to(bottom_left, imagegen.BLUE), bottom_left


@pytest.mark.parametrize(
    "image",
    [imagegen.transparent_rgba_png(), imagegen.palette_with_transparency_png(), imagegen.colour_key_png(),
     imagegen.webp_with_alpha(lossless=True), imagegen.webp_with_alpha(lossless=False)],
    ids=["rgba", "palette", "rgb-colour-key", "webp-lossless", "webp-lossy"],
)
def test_transparency_is_composited_over_white(image):
    """The transparent half is black underneath; dropping alpha naively would show black."""
    pixels = decode_image(image)
    assert close_to(pixels[112, 20], imagegen.RED)
    assert close_to(pixels[112, 200], imagegen.WHITE)


def test_sixteen_bit_image_is_scaled_down_not_clipped():
    pixels = decode_image(imagegen.sixteen_bit_png())
    assert close_to(pixels[20, 112], (128, 128, 128), tolerance=2)  # 32768 of 65535
    assert close_to(pixels[200, 112], imagegen.WHITE, tolerance=0)


def test_premultiplied_alpha_is_composited_over_white():
    pixels = decode_image(imagegen.premultiplied_alpha_tiff())
    assert close_to(pixels[112, 20], (200, 200, 200))
    assert close_to(pixels[112, 200], imagegen.WHITE)


@pytest.mark.parametrize(
    "image", [imagegen.sixteen_bit_tiff(), imagegen.float_tiff()], ids=["16-bit", "float-0-to-1"]
)
def test_high_depth_tiff_is_scaled_to_its_range(image):
    pixels = decode_image(image)
    assert close_to(pixels[20, 112], (128, 128, 128), tolerance=2)
    assert close_to(pixels[200, 112], imagegen.WHITE, tolerance=0)


def test_bilevel_tiff_keeps_black_and_white():
    pixels = decode_image(imagegen.bilevel_tiff())
    assert close_to(pixels[112, 20], (0, 0, 0), tolerance=0)
    assert close_to(pixels[112, 200], imagegen.WHITE, tolerance=0)


def test_cmyk_is_converted_to_rgb_colours():
    assert close_to(decode_image(imagegen.cmyk_jpeg((255, 0, 0, 0)))[112, 112], (0, 255, 255))
    assert close_to(decode_image(imagegen.cmyk_jpeg((0, 0, 0, 0)))[112, 112], imagegen.WHITE)


@pytest.mark.parametrize(
    "image",
    [imagegen.animated_gif(colours=(imagegen.RED, imagegen.BLUE)),
     imagegen.multipage_tiff(colours=(imagegen.RED, imagegen.BLUE))],
    ids=["animated-gif", "multipage-tiff"],
)
def test_only_the_first_frame_or_page_is_used(image):
    assert close_to(decode_image(image)[112, 112], imagegen.RED)


@pytest.mark.parametrize("size", [(10_000, 1), (1, 10_000)], ids=["10000x1", "1x10000"])
def test_a_one_pixel_strip_is_stretched_over_the_whole_input(size):
    """Every row (or column) of the input repeats the strip: nothing is padded or lost."""
    pixels = decode_image(imagegen.strip(*size))
    repeated = pixels[0] if size[1] == 1 else pixels[:, 0]
    assert np.all(pixels == (repeated[np.newaxis] if size[1] == 1 else repeated[:, np.newaxis]))
    assert len(np.unique(repeated, axis=0)) > 100, "the strip's pixels are kept, not one colour"


def test_one_pixel_image_fills_the_whole_input():
    pixels = decode_image(imagegen.one_pixel_png(imagegen.BLUE))
    assert np.all(pixels == np.array(imagegen.BLUE, dtype=np.uint8))


BAD_IMAGES = [
    pytest.param(imagegen.EMPTY, ErrorCode.EMPTY_IMAGE, "empty", id="empty"),
    pytest.param(NOT_AN_IMAGE, ErrorCode.NOT_AN_IMAGE, "not an image", id="text-as-jpg"),
    pytest.param(imagegen.truncated_jpeg(), ErrorCode.UNREADABLE_IMAGE, "truncated", id="truncated"),
    pytest.param(imagegen.png_bomb(), ErrorCode.IMAGE_TOO_LARGE, "megapixels", id="png-bomb"),
    pytest.param(imagegen.gif_bomb(), ErrorCode.IMAGE_TOO_LARGE, "megapixels", id="gif-bomb"),
    # Refused by Pillow's own check inside its WebP plugin, which gives the pixel count only.
    pytest.param(imagegen.webp_bomb(), ErrorCode.IMAGE_TOO_LARGE, "268 megapixels; the limit is 50",
                 id="webp-bomb"),
    pytest.param(imagegen.tiff_bomb(), ErrorCode.IMAGE_TOO_LARGE, "30000×30000", id="tiff-bomb"),
    pytest.param(imagegen.truncated(imagegen.webp()), ErrorCode.UNREADABLE_IMAGE, "truncated",
                 id="truncated-webp"),
    pytest.param(imagegen.truncated(imagegen.tiff()), ErrorCode.UNREADABLE_IMAGE, "truncated",
                 id="truncated-tiff"),
    # libtiff writes the directory after the pixels: cut off, Pillow finds no format at all.
    pytest.param(imagegen.truncated(imagegen.tiff(compression="tiff_lzw")), ErrorCode.UNREADABLE_IMAGE,
                 "starts like a TIFF image", id="truncated-lzw-tiff"),
    pytest.param(imagegen.truncated(imagegen.tiff(compression="tiff_adobe_deflate")),
                 ErrorCode.UNREADABLE_IMAGE, "starts like a TIFF image", id="truncated-deflate-tiff"),
    pytest.param(photo(format="PNG")[:8], ErrorCode.UNREADABLE_IMAGE, "starts like a PNG image",
                 id="png-signature-only"),
    pytest.param(b"II", ErrorCode.NOT_AN_IMAGE, "not an image", id="two-bytes"),
]


@pytest.mark.parametrize(("image", "code", "message"), BAD_IMAGES)
def test_unusable_image_is_refused_with_its_specific_code(image, code, message):
    assert_refused(decode_image, image, code, message)


def test_bombs_are_small_on_disk():
    assert len(imagegen.png_bomb()) < 100_000
    assert len(imagegen.gif_bomb()) < 100
    assert len(imagegen.webp_bomb()) < 100
    assert len(imagegen.tiff_bomb()) < 1000


def test_pixel_limit_message_names_the_size_and_the_limit():
    with pytest.raises(RequestError) as caught:
        decode_image(imagegen.png_bomb(20_000, 20_000))
    assert "20000×20000" in caught.value.message
    assert "the limit is 50 megapixels" in caught.value.message


def test_pixel_limit_is_a_parameter():
    image = photo((100, 100), "PNG")
    assert decode_image(image, max_pixels=10_000).shape == (224, 224, 3)
    with pytest.raises(RequestError) as caught:
        decode_image(image, max_pixels=9_999)
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE



def test_importing_the_decoder_leaves_pillows_own_bomb_guard_for_every_other_image():
    """A notebook kernel that imports ``model_server.images`` still refuses bombs it opens itself."""
    code = ("from PIL import Image\ndefault = Image.MAX_IMAGE_PIXELS\n"
            "import model_server.images\nprint(default is not None and Image.MAX_IMAGE_PIXELS == default)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO_ROOT, timeout=60)
    assert result.stdout.strip() == "True", result.stderr
    with pytest.raises(RequestError):
        decode_image(imagegen.tiff_bomb())
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(imagegen.tiff_bomb()))


def test_a_bomb_beyond_pillows_own_limit_gets_our_size_and_limit():
    """30000×30000 is more than twice Pillow's limit, where ``Image.open`` itself would refuse."""
    assert 30_000 * 30_000 > 2 * Image.MAX_IMAGE_PIXELS
    with pytest.raises(RequestError) as caught:
        decode_image(imagegen.tiff_bomb(30_000, 30_000))
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE
    assert "30000×30000" in caught.value.message and "the limit is 50 megapixels" in caught.value.message
