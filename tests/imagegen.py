"""Test images made in memory with Pillow: every awkward kind a user uploads, and broken files.

Ordinary photos are ``harness.sample_images.photo``'s (the lab's one image generator), and text
uploaded by mistake is its ``NOT_AN_IMAGE``. Here are the formats, modes and sizes a decoder finds
awkward, bombs, and files cut short. Each function returns the bytes of an image *file*, as a
browser would upload it: the pictures are ``sample_images.picture``'s or drawn here, encoded by
``sample_images.encode``. Nothing is read from disk and nothing is downloaded, so the suite runs
offline on a fresh machine.
"""

from __future__ import annotations

import functools
import struct
import zlib

import numpy as np
from PIL import Image

from harness.sample_images import encode, photo, picture

#: EXIF tag 0x0112: how the camera was held. 6 means "rotate 90° clockwise to display".
EXIF_ORIENTATION = 0x0112
ROTATE_90_CLOCKWISE = 6
#: TIFF tags that the generators below rewrite; 3 is the type of a 16-bit value (SHORT).
TIFF_IMAGE_WIDTH, TIFF_IMAGE_LENGTH, TIFF_EXTRA_SAMPLES = 256, 257, 338
TIFF_SHORT = 3
#: ExtraSamples 1: the alpha channel is premultiplied ("associated").
ASSOCIATED_ALPHA = 1

RED = (255, 0, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


def solid_png(colour: tuple[int, int, int], size: tuple[int, int] = (32, 32)) -> bytes:
    return encode(Image.new("RGB", size, colour), "PNG")


def transparent_rgba_png(size: tuple[int, int] = (64, 48)) -> bytes:
    """An RGBA PNG: the left half opaque red, the right half fully transparent (black underneath)."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    image.paste((*RED, 255), (0, 0, size[0] // 2, size[1]))
    return encode(image, "PNG")


def palette_with_transparency_png(size: tuple[int, int] = (64, 48)) -> bytes:
    """A palette ("P") PNG whose index 0 (black) is transparent; the left half is index 1, red."""
    image = Image.new("P", size, 0)
    image.putpalette([0, 0, 0, *RED] + [0] * (256 * 3 - 6))
    image.paste(1, (0, 0, size[0] // 2, size[1]))
    return encode(image, "PNG", transparency=0)


def sixteen_bit_png(size: tuple[int, int] = (64, 48)) -> bytes:
    """A 16-bit greyscale PNG: the top half at mid grey (32768), the bottom half at full white."""
    pixels = np.full((size[1], size[0]), 65535, dtype=np.uint16)
    pixels[: size[1] // 2] = 32768
    image = Image.fromarray(pixels)
    assert image.mode.startswith("I;16"), image.mode
    return encode(image, "PNG")


def cmyk_jpeg(cmyk: tuple[int, int, int, int] = (255, 0, 0, 0), size: tuple[int, int] = (64, 48)) -> bytes:
    """A CMYK JPEG (as print workflows make them); pure cyan by default."""
    return encode(Image.new("CMYK", size, cmyk), "JPEG", quality=95)


def animated_gif(colours=(RED, BLUE), size: tuple[int, int] = (40, 30)) -> bytes:
    """A looping GIF with one solid frame per colour; only the first frame should be classified."""
    frames = [Image.new("RGB", size, colour) for colour in colours]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def exif_rotated_jpeg(size: tuple[int, int] = (200, 100)) -> bytes:
    """A landscape JPEG stored sideways: left half red, right half blue, EXIF orientation 6.

    Displayed the right way up (rotated 90° clockwise) it is portrait, red on top, blue below;
    ignoring the tag would keep red on the left and blue on the right.
    """
    pixels = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    pixels[:, : size[0] // 2] = RED
    pixels[:, size[0] // 2 :] = BLUE
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATE_90_CLOCKWISE
    return encode(Image.fromarray(pixels), "JPEG", quality=95, exif=exif.tobytes())


def _half_red_half_transparent(size: tuple[int, int]) -> Image.Image:
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    image.paste((*RED, 255), (0, 0, size[0] // 2, size[1]))
    return image


def webp(width: int = 320, height: int = 240, seed: int = 0, lossless: bool = False) -> bytes:
    """An RGB WebP photo, lossy (as cameras and browsers save them) or lossless."""
    return encode(picture((width, height), seed), "WEBP", quality=80, lossless=lossless)


def webp_with_alpha(size: tuple[int, int] = (64, 48), lossless: bool = True) -> bytes:
    """A WebP with an alpha channel: the left half opaque red, the right half fully transparent."""
    return encode(_half_red_half_transparent(size), "WEBP", quality=90, lossless=lossless)


def tiff(width: int = 320, height: int = 240, seed: int = 0, compression: str | None = None) -> bytes:
    """An RGB TIFF photo; ``compression`` is Pillow's name (``"tiff_lzw"``, ``"jpeg"``...)."""
    return encode(picture((width, height), seed), "TIFF", compression=compression)


def bilevel_tiff(size: tuple[int, int] = (64, 48)) -> bytes:
    """A 1-bit fax-style TIFF (CCITT Group 4): the left half black, the right half white."""
    image = Image.new("1", size, 1)
    image.paste(0, (0, 0, size[0] // 2, size[1]))
    return encode(image, "TIFF", compression="group4")


def sixteen_bit_tiff(size: tuple[int, int] = (64, 48)) -> bytes:
    """A 16-bit greyscale TIFF (mode I;16): top half at mid grey (32768), bottom half full white."""
    pixels = np.full((size[1], size[0]), 65535, dtype=np.uint16)
    pixels[: size[1] // 2] = 32768
    return encode(Image.fromarray(pixels), "TIFF", compression="tiff_adobe_deflate")


def float_tiff(size: tuple[int, int] = (64, 48)) -> bytes:
    """A 32-bit floating-point TIFF (mode F) in the usual 0–1 range: top half 0.5, bottom half 1.0."""
    pixels = np.ones((size[1], size[0]), dtype=np.float32)
    pixels[: size[1] // 2] = 0.5
    return encode(Image.fromarray(pixels), "TIFF")


def multipage_tiff(colours=(RED, BLUE), size: tuple[int, int] = (40, 30)) -> bytes:
    """A TIFF with one solid page per colour (as scanners make them); only the first is classified."""
    pages = [Image.new("RGB", size, colour) for colour in colours]
    return encode(pages[0], "TIFF", save_all=True, append_images=pages[1:], compression="tiff_lzw")


def premultiplied_alpha_tiff(size: tuple[int, int] = (64, 48)) -> bytes:
    """A grey TIFF with premultiplied alpha (Pillow's mode "La"): left half opaque grey 200,
    right half fully transparent.

    Pillow writes alpha as unassociated, so the ExtraSamples tag is then rewritten to
    "associated": the pixels (transparent ones are 0) are the same either way.
    """
    image = Image.new("LA", size, (0, 0))
    image.paste((200, 255), (0, 0, size[0] // 2, size[1]))
    data = bytearray(encode(image, "TIFF"))
    _set_tiff_tag(data, TIFF_EXTRA_SAMPLES, ASSOCIATED_ALPHA)
    return bytes(data)


def colour_key_png(size: tuple[int, int] = (64, 48)) -> bytes:
    """An RGB PNG whose black is transparent (a tRNS colour key, no alpha channel); left half red."""
    image = Image.new("RGB", size, (0, 0, 0))
    image.paste(RED, (0, 0, size[0] // 2, size[1]))
    return encode(image, "PNG", transparency=(0, 0, 0))


def strip(width: int, height: int, fmt: str = "PNG", seed: int = 0) -> bytes:
    """An image of extreme aspect ratio (``strip(10000, 1)``): a slice of a photo, any format."""
    return encode(picture((width, height), seed), fmt)


def truncated_jpeg() -> bytes:
    """The first half of a valid JPEG, as an interrupted upload leaves it."""
    return truncated(photo())


def truncated(data: bytes) -> bytes:
    """The first half of a file, as an interrupted upload leaves it."""
    return data[: len(data) // 2]


def one_pixel_png(colour: tuple[int, int, int] = RED) -> bytes:
    return solid_png(colour, (1, 1))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid 1-bit PNG of ``width``×``height`` black pixels: about 50 KB on disk, 1.2 GB as RGB.

    Written chunk by chunk with zlib, so making it never holds the image in memory.
    """
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte, then the packed pixels
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def gif_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A 1×1 GIF whose header claims a ``width``×``height`` screen: a few dozen bytes on disk."""
    data = bytearray(encode(Image.new("P", (1, 1), 0), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)  # the logical screen size
    return bytes(data)


def webp_bomb() -> bytes:
    """A tiny lossless WebP whose header claims 16383×16383 pixels, WebP's largest size."""
    data = bytearray(encode(Image.new("RGB", (1, 1)), "WEBP", lossless=True))
    assert data[12:16] == b"VP8L", "Pillow wrote a lossless WebP without extended features"
    # After the signature byte: 14 bits width - 1, 14 bits height - 1, then 4 bits of flags.
    (header,) = struct.unpack_from("<I", data, 21)
    struct.pack_into("<I", data, 21, (header & ~(2**28 - 1)) | 16382 | 16382 << 14)
    return bytes(data)


def tiff_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A 16×16 TIFF whose directory claims ``width``×``height`` pixels."""
    data = bytearray(tiff(16, 16))
    _set_tiff_tag(data, TIFF_IMAGE_WIDTH, width)
    _set_tiff_tag(data, TIFF_IMAGE_LENGTH, height)
    return bytes(data)


def _set_tiff_tag(data: bytearray, tag: int, value: int) -> None:
    """Overwrite a one-value SHORT or LONG tag of a little-endian TIFF's first directory."""
    (directory,) = struct.unpack_from("<I", data, 4)
    (entries,) = struct.unpack_from("<H", data, directory)
    for entry in range(directory + 2, directory + 2 + 12 * entries, 12):
        found, kind = struct.unpack_from("<HH", data, entry)
        if found == tag:
            struct.pack_into("<H" if kind == TIFF_SHORT else "<I", data, entry + 8, value)
            return
    raise AssertionError(f"Pillow wrote no TIFF tag {tag}")


EMPTY = b""


@functools.cache
def awkward_images() -> dict[str, bytes]:
    """Every awkward kind of image file that must still be classified, by a name for test ids."""
    return {
        "rgba-png": transparent_rgba_png(),
        "palette-transparency-png": palette_with_transparency_png(),
        "colour-key-png": colour_key_png(),
        "16-bit-png": sixteen_bit_png(),
        "cmyk-jpeg": cmyk_jpeg(),
        "animated-gif": animated_gif(),
        "exif-rotated-jpeg": exif_rotated_jpeg(),
        "1x1-png": one_pixel_png(),
        "webp-lossy": webp(),
        "webp-lossless": webp(lossless=True),
        "webp-lossy-alpha": webp_with_alpha(lossless=False),
        "webp-lossless-alpha": webp_with_alpha(lossless=True),
        "tiff-rgb": tiff(),
        "tiff-lzw": tiff(compression="tiff_lzw"),
        "tiff-deflate": tiff(compression="tiff_adobe_deflate"),
        "tiff-jpeg": tiff(compression="jpeg"),
        "tiff-packbits": tiff(compression="packbits"),
        "tiff-1-bit-group4": bilevel_tiff(),
        "tiff-16-bit": sixteen_bit_tiff(),
        "tiff-float": float_tiff(),
        "tiff-multipage": multipage_tiff(),
        "tiff-premultiplied-alpha": premultiplied_alpha_tiff(),
        "10000x1-png": strip(10_000, 1),
        "1x10000-png": strip(1, 10_000),
        "3x4000-jpeg": strip(3, 4000, "JPEG"),
        "3000x20-jpeg": strip(3000, 20, "JPEG"),
        "65000x2-jpeg": strip(65_000, 2, "JPEG"),
        "1x20000-tiff": strip(1, 20_000, "TIFF"),
        "8000x1-webp": strip(8000, 1, "WEBP"),
    }
