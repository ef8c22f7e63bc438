"""Test images made in memory with Pillow: the ordinary ones and every awkward kind a user uploads.

Each function returns the bytes of an image *file*, as a browser would upload it. Nothing is read
from disk and nothing is downloaded, so the suite runs offline on a fresh machine.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

#: EXIF tag 0x0112: how the camera was held. 6 means "rotate 90° clockwise to display".
EXIF_ORIENTATION = 0x0112
ROTATE_90_CLOCKWISE = 6
#: TIFF tag 338, ExtraSamples: 1 means the alpha channel is premultiplied ("associated").
TIFF_EXTRA_SAMPLES = 338
ASSOCIATED_ALPHA = 1

RED = (255, 0, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def noise_rgb(width: int = 640, height: int = 480, seed: int = 0) -> np.ndarray:
    """Random RGB pixels: each seed gives an image the model answers differently."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def jpeg(width: int = 640, height: int = 480, seed: int = 0) -> bytes:
    """An ordinary photo-sized JPEG (640×480 by default)."""
    return _save(Image.fromarray(noise_rgb(width, height, seed)), "JPEG", quality=90)


def png(width: int = 320, height: int = 240, seed: int = 0) -> bytes:
    return _save(Image.fromarray(noise_rgb(width, height, seed)), "PNG")


def solid_png(colour: tuple[int, int, int], size: tuple[int, int] = (32, 32)) -> bytes:
    return _save(Image.new("RGB", size, colour), "PNG")


def transparent_rgba_png(size: tuple[int, int] = (64, 48)) -> bytes:
    """An RGBA PNG: the left half opaque red, the right half fully transparent (black underneath)."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    image.paste((*RED, 255), (0, 0, size[0] // 2, size[1]))
    return _save(image, "PNG")


def palette_with_transparency_png(size: tuple[int, int] = (64, 48)) -> bytes:
    """A palette ("P") PNG whose index 0 (black) is transparent; the left half is index 1, red."""
    image = Image.new("P", size, 0)
    image.putpalette([0, 0, 0, *RED] + [0] * (256 * 3 - 6))
    image.paste(1, (0, 0, size[0] // 2, size[1]))
    return _save(image, "PNG", transparency=0)


def sixteen_bit_png(size: tuple[int, int] = (64, 48)) -> bytes:
    """A 16-bit greyscale PNG: the top half at mid grey (32768), the bottom half at full white."""
    pixels = np.full((size[1], size[0]), 65535, dtype=np.uint16)
    pixels[: size[1] // 2] = 32768
    image = Image.fromarray(pixels)
    assert image.mode.startswith("I;16"), image.mode
    return _save(image, "PNG")


def cmyk_jpeg(cmyk: tuple[int, int, int, int] = (255, 0, 0, 0), size: tuple[int, int] = (64, 48)) -> bytes:
    """A CMYK JPEG (as print workflows make them); pure cyan by default."""
    return _save(Image.new("CMYK", size, cmyk), "JPEG", quality=95)


def animated_gif(colours=(RED, BLUE), size: tuple[int, int] = (40, 30)) -> bytes:
    """A looping GIF with one solid frame per colour; only the first frame should be classified."""
    frames = [Image.new("RGB", size, colour) for colour in colours]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


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
    return _save(Image.fromarray(pixels), "JPEG", quality=95, exif=exif.tobytes())


def _half_red_half_transparent(size: tuple[int, int]) -> Image.Image:
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    image.paste((*RED, 255), (0, 0, size[0] // 2, size[1]))
    return image


def webp(width: int = 320, height: int = 240, seed: int = 0, lossless: bool = False) -> bytes:
    """An RGB WebP of random pixels, lossy (as cameras and browsers save them) or lossless."""
    return _save(Image.fromarray(noise_rgb(width, height, seed)), "WEBP", quality=80, lossless=lossless)


def webp_with_alpha(size: tuple[int, int] = (64, 48), lossless: bool = True) -> bytes:
    """A WebP with an alpha channel: the left half opaque red, the right half fully transparent."""
    return _save(_half_red_half_transparent(size), "WEBP", quality=90, lossless=lossless)


def tiff(width: int = 320, height: int = 240, seed: int = 0, compression: str | None = None) -> bytes:
    """An RGB TIFF of random pixels; ``compression`` is Pillow's name (``"tiff_lzw"``, ``"jpeg"``...)."""
    return _save(Image.fromarray(noise_rgb(width, height, seed)), "TIFF", compression=compression)


def bilevel_tiff(size: tuple[int, int] = (64, 48)) -> bytes:
    """A 1-bit fax-style TIFF (CCITT Group 4): the left half black, the right half white."""
    image = Image.new("1", size, 1)
    image.paste(0, (0, 0, size[0] // 2, size[1]))
    return _save(image, "TIFF", compression="group4")


def sixteen_bit_tiff(size: tuple[int, int] = (64, 48)) -> bytes:
    """A 16-bit greyscale TIFF (mode I;16): top half at mid grey (32768), bottom half full white."""
    pixels = np.full((size[1], size[0]), 65535, dtype=np.uint16)
    pixels[: size[1] // 2] = 32768
    return _save(Image.fromarray(pixels), "TIFF", compression="tiff_adobe_deflate")


def float_tiff(size: tuple[int, int] = (64, 48)) -> bytes:
    """A 32-bit floating-point TIFF (mode F) in the usual 0–1 range: top half 0.5, bottom half 1.0."""
    pixels = np.ones((size[1], size[0]), dtype=np.float32)
    pixels[: size[1] // 2] = 0.5
    return _save(Image.fromarray(pixels), "TIFF")


def multipage_tiff(colours=(RED, BLUE), size: tuple[int, int] = (40, 30)) -> bytes:
    """A TIFF with one solid page per colour (as scanners make them); only the first is classified."""
    pages = [Image.new("RGB", size, colour) for colour in colours]
    return _save(pages[0], "TIFF", save_all=True, append_images=pages[1:], compression="tiff_lzw")


def premultiplied_alpha_tiff(size: tuple[int, int] = (64, 48)) -> bytes:
    """A grey TIFF with premultiplied alpha (Pillow's mode "La"): left half opaque grey 200,
    right half fully transparent.

    Pillow writes alpha as unassociated, so the ExtraSamples tag is then rewritten to
    "associated": the pixels (transparent ones are 0) are the same either way.
    """
    image = Image.new("LA", size, (0, 0))
    image.paste((200, 255), (0, 0, size[0] // 2, size[1]))
    data = bytearray(_save(image, "TIFF"))
    (directory,) = struct.unpack_from("<I", data, 4)
    (entries,) = struct.unpack_from("<H", data, directory)
    for entry in range(directory + 2, directory + 2 + 12 * entries, 12):
        if struct.unpack_from("<H", data, entry)[0] == TIFF_EXTRA_SAMPLES:
            struct.pack_into("<H", data, entry + 8, ASSOCIATED_ALPHA)
            return bytes(data)
    raise AssertionError("Pillow wrote no ExtraSamples tag")


def colour_key_png(size: tuple[int, int] = (64, 48)) -> bytes:
    """An RGB PNG whose black is transparent (a tRNS colour key, no alpha channel); left half red."""
    image = Image.new("RGB", size, (0, 0, 0))
    image.paste(RED, (0, 0, size[0] // 2, size[1]))
    return _save(image, "PNG", transparency=(0, 0, 0))


def strip(width: int, height: int, fmt: str = "PNG", seed: int = 0) -> bytes:
    """An image of extreme aspect ratio (``strip(10000, 1)``): random pixels, any format."""
    return _save(Image.fromarray(noise_rgb(width, height, seed)), fmt)


def truncated_jpeg() -> bytes:
    """The first half of a valid JPEG, as an interrupted upload leaves it."""
    data = jpeg()
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
    data = bytearray(_save(Image.new("P", (1, 1), 0), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)  # the logical screen size
    return bytes(data)


def not_an_image() -> bytes:
    """Text that a user saved as ``holiday.jpg``."""
    return b"This is a shopping list, not a photo.\nmilk\neggs\n" * 20


EMPTY = b""
