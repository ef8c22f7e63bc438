"""Checks for notebook 05's exercises: reading an upload and the widget's message."""

from __future__ import annotations

import datetime as dt

import pytest

from model_server.client import ModelServerUnavailable
from model_server.protocol import Prediction, PredictReply, ServerError, Timings

IMAGE = b"\xff\xd8\xff\xe0 pretend JPEG bytes"


@pytest.fixture
def nb05(load_answers):
    return load_answers("nb05_widget")


def _upload_value(name: str = "cat.jpg", content: bytes = IMAGE) -> tuple[dict, ...]:
    """What ipywidgets 8 puts in ``FileUpload.value`` after one file is chosen."""
    return ({
        "name": name, "type": "image/jpeg", "size": len(content),
        "last_modified": dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc), "content": memoryview(content),
    },)


class FakeClient:
    def __init__(self, error: ServerError | None = None):
        self.error = error
        self.images: list[bytes] = []

    def predict(self, image: bytes, top: int = 3) -> PredictReply:
        self.images.append(image)
        if self.error is not None:
            raise self.error
        return PredictReply(
            [Prediction("tabby", "n02123045", 0.812), Prediction("tiger cat", "n02123159", 0.095),
             Prediction("lynx", "n02127052", 0.02)],
            "imagenet", "resnet50", Timings(1.0, 1.0, 50.0, 52.0),
        )


def test_file_from_upload_returns_name_and_bytes(nb05, attempt):
    uploaded = attempt(nb05.file_from_upload, _upload_value())
    assert uploaded is not None and len(uploaded) == 2, f"return (name, bytes), not {uploaded!r}"
    name, content = uploaded
    assert name == "cat.jpg", f"the name is value[0]['name'], here 'cat.jpg', not {name!r}"
    assert isinstance(content, bytes), (
        f"content is a {type(content).__name__}: convert it with bytes(...)"
    )
    assert content == IMAGE


def test_file_from_upload_of_nothing_is_none(nb05, attempt):
    assert attempt(nb05.file_from_upload, ()) is None, "an empty upload value should give None"


def test_upload_message_lists_the_predictions(nb05, attempt):
    client = FakeClient()
    message = attempt(nb05.upload_message, _upload_value(), client)
    assert client.images == [IMAGE], "send the uploaded file's bytes to client.predict"
    assert message == "tabby 81.2%, tiger cat 9.5%, lynx 2.0%", (
        f"expected 'tabby 81.2%, tiger cat 9.5%, lynx 2.0%' (percentages with one decimal: "
        f"f'{{p:.1%}}'), got {message!r}"
    )


def test_upload_message_without_a_file_asks_for_one(nb05, attempt):
    client = FakeClient()
    assert attempt(nb05.upload_message, (), client) == "Choose an image."
    assert client.images == [], "with nothing uploaded, do not call the model server"


def test_upload_message_shows_a_server_error_instead_of_raising(nb05, attempt):
    down = FakeClient(ModelServerUnavailable("no model server is answering at tcp://127.0.0.1:5576"))
    try:
        message = attempt(nb05.upload_message, _upload_value(), down)
    except ServerError as error:
        pytest.fail(f"upload_message raised {error!r}: catch ServerError and return a message",
                    pytrace=False)
    assert message == "Error: no model server is answering at tcp://127.0.0.1:5576", (
        f"expected 'Error: ' and the error's .message, got {message!r}"
    )
