"""Fuzzing the model server's two doors, the wire format and the image decoder, with Hypothesis.

Whatever arrives, ``decode_request`` answers with a request or a ``RequestError`` that has a code,
and ``decode_image`` with 224×224 RGB pixels or a ``RequestError`` with one of the image codes:
any other exception would become an "internal" error, or worse, end a worker thread. The last
test sends hostile frames to the real model server and checks it still answers afterwards.

Every run tries the same examples (``derandomize=True``, no example database), so a failure on
CI is a failure on your machine; the number of examples keeps the file to a few seconds.
"""

from __future__ import annotations

import base64
import json
import random
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import imagegen
from fakes import raw_dealer
from harness.sample_images import NOT_AN_IMAGE, photo
from model_server.images import MODEL_INPUT_SIZE, decode_image
from model_server.protocol import (
    NUM_CLASSES,
    ErrorCode,
    PingRequest,
    PredictRequest,
    RequestError,
    RequestHeader,
    StatsRequest,
    decode_request,
    encode_request,
    encode_request_frames,
    read_header,
    request_id_of,
)

# Mutated files make Pillow warn (corrupt EXIF, truncated reads) before it refuses them.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL")

#: Reproducible and bounded: the same examples every run, each well under the deadline.
FUZZ = settings(
    max_examples=200, deadline=timedelta(seconds=5), derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
#: A mutated header may claim any size up to the limit; a small limit keeps each example fast
#: and small in memory on a shared machine (the 50-megapixel default is tested in test_images).
FUZZ_MAX_PIXELS = 2_000_000
IMAGE_CODES = {ErrorCode.EMPTY_IMAGE, ErrorCode.NOT_AN_IMAGE, ErrorCode.UNREADABLE_IMAGE,
               ErrorCode.IMAGE_TOO_LARGE}
#: Seconds the live test waits for each reply before it fails instead of hanging.
REPLY_TIMEOUT_S = 30

# --- the wire format ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**300), 10**300) | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
base64_images = st.binary(max_size=64).map(lambda data: base64.b64encode(data).decode("ascii"))
request_objects = st.fixed_dictionaries(
    {},
    optional={
        "image": base64_images | json_values,
        "top": st.integers(-5, NUM_CLASSES + 5) | json_values,
        "id": st.text() | json_values,
        "op": st.sampled_from(["predict", "ping", "PING", "stats", ""]) | json_values,
    },
).flatmap(lambda known: st.dictionaries(st.text(max_size=8), json_values, max_size=3).map(
    lambda extra: {**extra, **known}))
image_frames = st.none() | st.binary(max_size=64)


def check_decoded(frame: bytes, image: bytes | None) -> None:
    """A valid request, or a RequestError with a code; never anything else."""
    try:
        request = decode_request(frame, image)
    except RequestError as error:
        assert isinstance(error.code, ErrorCode) and error.message
        assert len(error.message) < 1000, "an error message must not echo the whole request"
        return
    assert isinstance(request, (PredictRequest, PingRequest, StatsRequest))
    assert request.id is None or isinstance(request.id, str)
    if isinstance(request, PredictRequest):
        assert isinstance(request.image, bytes) and request.image
        assert type(request.top) is int and 1 <= request.top <= NUM_CLASSES


@FUZZ
@given(frame=st.binary(max_size=512), image=image_frames)
@example(frame=b"[" * 100_000, image=None)  # deep enough to exhaust the json module's stack
@example(frame=b'{"a": ' * 50_000, image=None)
@example(frame=b'{"top": 1' + b"0" * 5000 + b"}", image=None)  # beyond int()'s digit limit
@example(frame=b'{"image": "QUJD", "top": NaN}', image=None)
@example(frame=b'{"id": "\\ud800", "op": "ping"}', image=None)  # a lone surrogate
def test_any_bytes_are_a_request_or_a_request_error(frame, image):
    check_decoded(frame, image)


@FUZZ
@given(message=request_objects, image=image_frames)
def test_any_json_object_is_a_request_or_a_request_error(message, image):
    check_decoded(json.dumps(message).encode(), image)


@FUZZ
@given(frame=st.binary(max_size=512) | request_objects.map(lambda m: json.dumps(m).encode()))
@example(frame=b"[" * 100_000)
def test_the_id_of_any_frame_is_a_string_or_none(frame):
    """Error replies echo the id: reading it must not fail where decoding the request failed."""
    assert request_id_of(frame) is None or isinstance(request_id_of(frame), str)


@FUZZ
@given(frame=st.binary(max_size=512) | request_objects.map(lambda m: json.dumps(m).encode()))
@example(frame=b"[" * 100_000)
@example(frame=b'{"deadline_ms": 1' + b"0" * 5000 + b"}")
def test_the_broker_reads_a_header_of_any_frame_without_raising(frame):
    """The broker's own reading of each request (op, id, deadline) runs on its one thread."""
    header = read_header(frame)
    assert header.id is None or isinstance(header.id, str)
    assert header.deadline_ms is None or (0 < header.deadline_ms < float("inf"))


#: The base64 of an image big enough that the broker does not parse its request whole.
BIG_IMAGE = base64.b64encode(bytes(range(256)) * 300).decode("ascii")


@FUZZ
@given(message=request_objects, image_first=st.booleans(), indent=st.sampled_from([None, 0, 2]),
       ensure_ascii=st.booleans())
def test_the_broker_reads_a_big_request_as_it_reads_the_same_request_without_its_image(
        message, image_first, indent, ensure_ascii):
    """Cutting the image out may give up (the defaults), but never read another header."""
    message = {key: value for key, value in message.items() if key != "image"}
    with_image = {"image": BIG_IMAGE, **message} if image_first else {**message, "image": BIG_IMAGE}
    big = json.dumps(with_image, indent=indent, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
    small = json.dumps({**with_image, "image": ""}, indent=indent, ensure_ascii=ensure_ascii).encode(
        "utf-8", "surrogatepass")
    if small.count(b"image") == 1:
        assert read_header(big) == read_header(small)
    else:  # "image" also in another key or value: this cut may be the wrong one
        assert read_header(big) in (read_header(small), RequestHeader())


@FUZZ
@given(value=json_values)
@example(value=list(range(100_000)))
@example(value="x" * 100_000)
@example(value=[[["deep"] * 50] * 50] * 50)
@example(value=10**4000 // 10**3700)
def test_error_messages_show_at_most_a_little_of_a_value(value):
    """A refusal names the wrong value, but must not echo a 40 MB request back (or into the log)."""
    for message in ({"top": [value], "image": "QUJD"}, {"op": [value]}):
        with pytest.raises(RequestError) as refused:
            decode_request(json.dumps(message).encode())
        assert len(refused.value.message) < 200, refused.value.message


# --- the image decoder ----------------------------------------------------------------------------

#: Small valid files of every format the decoder must take; the fuzzer mutates them.
SEED_FILES = {
    "png": photo((24, 16), "PNG"),
    "rgba-png": imagegen.transparent_rgba_png((24, 16)),
    "palette-png": imagegen.palette_with_transparency_png((24, 16)),
    "16-bit-png": imagegen.sixteen_bit_png((24, 16)),
    "jpeg": photo((24, 16)),
    "cmyk-jpeg": imagegen.cmyk_jpeg(size=(24, 16)),
    "exif-jpeg": imagegen.exif_rotated_jpeg((24, 16)),
    "gif": imagegen.animated_gif(size=(24, 16)),
    "webp": imagegen.webp(24, 16),
    "webp-alpha": imagegen.webp_with_alpha((24, 16)),
    "tiff": imagegen.tiff(24, 16),
    "tiff-lzw": imagegen.tiff(24, 16, compression="tiff_lzw"),
    "tiff-jpeg": imagegen.tiff(24, 16, compression="jpeg"),
    "tiff-group4": imagegen.bilevel_tiff((24, 16)),
    "tiff-16-bit": imagegen.sixteen_bit_tiff((24, 16)),
    "tiff-float": imagegen.float_tiff((24, 16)),
    "tiff-multipage": imagegen.multipage_tiff(size=(24, 16)),
    "tiff-premultiplied": imagegen.premultiplied_alpha_tiff((24, 16)),
}
#: Byte values that break parsers most often: zero, sign bits, all ones.
EDGE_BYTES = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF]
HEADER_BYTES = 64


@st.composite
def mutated_files(draw) -> bytes:
    """A seed file with one to four edits: bit flips, header bytes, truncation, insertion, deletion."""
    data = bytearray(SEED_FILES[draw(st.sampled_from(sorted(SEED_FILES)))])
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        edit = draw(st.sampled_from(["flip", "header", "truncate", "insert", "delete"]))
        if edit == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "header":
            at = draw(st.integers(0, min(HEADER_BYTES, len(data)) - 1))
            run = draw(st.lists(st.sampled_from(EDGE_BYTES) | st.integers(0, 255), min_size=1, max_size=4))
            data[at:at + len(run)] = bytes(run)
        elif edit == "truncate":
            del data[at:]
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at:at + draw(st.integers(1, 16))]
    return bytes(data)


def check_image(data: bytes) -> None:
    """224×224 RGB pixels, or a RequestError with one of the image codes; never anything else."""
    try:
        pixels = decode_image(data, max_pixels=FUZZ_MAX_PIXELS)
    except RequestError as error:
        assert error.code in IMAGE_CODES, error.code
        assert error.message
        return
    assert pixels.shape == (*MODEL_INPUT_SIZE[::-1], 3)
    assert pixels.dtype == np.uint8


@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes_decode_to_pixels_or_an_image_error(data):
    check_image(data)


@settings(FUZZ, max_examples=500)
@given(data=mutated_files())
def test_mutated_image_files_decode_to_pixels_or_an_image_error(data):
    check_image(data)


def test_every_seed_file_decodes():
    """The mutations start from files that work, so what the fuzzer finds is the mutation's doing."""
    for name, data in SEED_FILES.items():
        assert decode_image(data).shape == (224, 224, 3), name


# --- the live model server ------------------------------------------------------------------------


def hostile_messages(seed: int = 5) -> list[list[bytes]]:
    """A few dozen multipart messages a careless or hostile client sends, the same every run."""
    rng = random.Random(seed)
    header = json.dumps({"top": 3}).encode()
    messages = [
        [b""], [b"", b""], [b"{}"], [b"null"], [b"[" * 100_000], [b'{"a": ' * 50_000],
        [b'{"image": "QUJD", "top": 1' + b"0" * 5000 + b"}"],
        [b'{"op": "ping", "id": "\\ud800"}'], [b'{"op": "ping", "id": "\xff\xfe"}'],
        [json.dumps({"op": "x" * 100_000}).encode()],
        [json.dumps({"top": list(range(100_000)), "image": "QUJD"}).encode()],
        [header, b""], [header, NOT_AN_IMAGE], [header, imagegen.gif_bomb()],
        [encode_request(photo((8, 8), "PNG")), photo((8, 8), "PNG")],  # the image twice
        [header, photo((8, 8), "PNG"), photo((8, 8), "PNG")], [header, b"", b"", b"", b""],
        [b"", header, photo((8, 8), "PNG")],  # a delimiter, as REQ sends, then two frames
        [photo((8, 8), "PNG")],  # raw image bytes where the JSON goes
    ]
    messages += [[bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 256)))] for _ in range(8)]
    messages += [[header, mutated] for mutated in _mutated_examples(rng, 10)]
    return messages


def _mutated_examples(rng: random.Random, count: int) -> list[bytes]:
    examples = []
    for _ in range(count):
        data = bytearray(SEED_FILES[rng.choice(sorted(SEED_FILES))])
        at = rng.randrange(len(data))
        data[at] ^= 1 << rng.randrange(8)
        examples.append(bytes(data[: rng.randint(len(data) // 2, len(data))]))
    return examples


def outcome(reply: dict) -> str:
    """What a reply says: ``predictions``, ``pong`` or its error code."""
    if "predictions" in reply:
        return "predictions"
    return "pong" if reply.get("op") == "pong" else reply["error"]["code"]


def test_hostile_messages_get_error_replies_and_the_server_keeps_answering(model_server):
    with raw_dealer(model_server.address) as dealer:
        codes = []
        for message in hostile_messages():
            dealer.send_multipart(message)
            assert dealer.poll(REPLY_TIMEOUT_S * 1000), f"no reply to {[m[:40] for m in message]}"
            codes.append(outcome(json.loads(dealer.recv_multipart()[-1])))
        assert ErrorCode.INTERNAL.value not in codes, codes
        assert {"bad_json", "bad_request", "not_an_image", "image_too_large"} <= set(codes), codes

        for message in (encode_request_frames(photo(), request_id="after"),
                        [encode_request(photo(), request_id="after")]):
            dealer.send_multipart(message)
            assert dealer.poll(REPLY_TIMEOUT_S * 1000), "the server stopped answering"
            reply = json.loads(dealer.recv_multipart()[-1])
            assert reply["id"] == "after" and len(reply["predictions"]) == 3
