"""Checks for notebook 04's exercises: the request and the reply on the wire."""

from __future__ import annotations

import base64
import json

import pytest

from model_server.protocol import (
    ErrorCode,
    PredictReply,
    PredictRequest,
    Prediction,
    Timings,
    decode_request,
    encode_error,
    encode_reply,
)

#: Bytes of a tiny PNG header and more: binary data with zeros, as any image file has.
IMAGE = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


@pytest.fixture
def nb04(load_answers):
    return load_answers("nb04_model_server")


def _reply(*predictions: tuple[str, float]) -> bytes:
    return encode_reply(PredictReply(
        [Prediction(label, f"n{index:08d}", p) for index, (label, p) in enumerate(predictions)],
        "untrained", "resnet50", Timings(1.0, 1.0, 50.0, 52.0),
    ))


def test_request_is_json_bytes_with_the_image_in_base64(nb04, attempt):
    frame = attempt(nb04.encode_image_request, IMAGE)
    assert isinstance(frame, bytes), (
        f"return bytes (socket.send needs them): .encode() the JSON text; got {type(frame).__name__}"
    )
    try:
        message = json.loads(frame)
    except ValueError as error:
        pytest.fail(f"the request is not valid JSON ({error}): build it with json.dumps", pytrace=False)
    assert isinstance(message, dict) and "image" in message, (
        f'the request must be a JSON object with an "image" field, not {message!r:.80}'
    )
    assert isinstance(message["image"], str), '"image" must be a text string: .decode("ascii") the base64'
    assert base64.b64decode(message["image"]) == IMAGE, (
        '"image" must be base64.b64encode of the image bytes themselves'
    )


def test_request_is_accepted_by_the_model_server_protocol(nb04, attempt):
    request = decode_request(attempt(nb04.encode_image_request, IMAGE))
    assert isinstance(request, PredictRequest) and request.image == IMAGE, (
        "the server's decoder did not read the same image back from your request"
    )


def test_top_predictions_reads_label_and_probability(nb04, attempt):
    top = attempt(nb04.top_predictions, _reply(("tabby", 0.8), ("tiger cat", 0.1), ("lynx", 0.05)))
    assert top == [("tabby", 0.8), ("tiger cat", 0.1), ("lynx", 0.05)], (
        f"expected [(label, probability), ...] most probable first, got {top!r}"
    )


def test_top_predictions_keeps_only_k_most_probable_first(nb04, attempt):
    top = attempt(nb04.top_predictions, _reply(("lynx", 0.05), ("tabby", 0.8), ("tiger cat", 0.1)), k=2)
    assert top == [("tabby", 0.8), ("tiger cat", 0.1)], (
        f"with k=2, expected the two most probable, most probable first (sort by probability), got {top!r}"
    )


def test_an_error_reply_raises_with_the_server_message(nb04, expect_raises):
    frame = encode_error(ErrorCode.NOT_AN_IMAGE, "the file is not an image Pillow can read")
    error = expect_raises(
        RuntimeError, 'an error reply has "error" instead of "predictions": raise RuntimeError',
        nb04.top_predictions, frame,
    )
    assert "not an image Pillow can read" in str(error), (
        f"the RuntimeError should carry the server's error message, not {str(error)!r}"
    )
