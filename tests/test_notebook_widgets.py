"""The widget uploader of notebook 05, driven headlessly as a click would drive it.

A real image, a file that is not an image, and a model server that is down are fed to the upload
handler (by setting ``FileUpload.value``, which is what the browser does), and the test reads what
the widget then shows.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest

from harness.processes import free_port
from harness.sample_images import NOT_AN_IMAGE, sample_image_bytes
from lab.learner import answers, stubs
from lab.nb05_widget_uploader.widgets import ImageUploader, file_from_upload, upload_value

SUNSET = sample_image_bytes()["sunset.jpg"]
#: Seconds the widget may take to say the model server is down (a person is waiting).
DOWN_SERVER_NOTICED_WITHIN_S = 3.0


def _upload_value(name: str, content: bytes) -> tuple[dict, ...]:
    """``FileUpload.value`` as ipywidgets 8 sets it after the browser sends one file."""
    return ({"name": name, "type": "image/jpeg", "size": len(content), "content": memoryview(content),
             "last_modified": dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)},)


@pytest.fixture
def uploader(model_server) -> ImageUploader:
    widget = ImageUploader(model_server.address)
    yield widget
    widget.close()


def test_an_uploaded_image_shows_picture_top_3_bars_and_round_trip(uploader: ImageUploader) -> None:
    uploader.upload.value = _upload_value("sunset.jpg", SUNSET)

    shown = uploader.result.value
    outcome = uploader.last_outcome
    assert outcome is not None and outcome.error is None and outcome.reply is not None
    assert len(outcome.reply.predictions) == 3
    assert 'src="data:image/png;base64,' in shown, "the uploaded image is shown"
    for prediction in outcome.reply.predictions:
        assert prediction.label in shown
        assert f"{prediction.probability:.1%}" in shown
    assert shown.count('class="bar"') == 3, "one probability bar per prediction"
    assert f"{outcome.round_trip_ms:.0f} ms" in shown
    assert "Untrained weights" in shown, "the model server runs untrained weights and the widget says so"


def test_a_file_that_is_not_an_image_is_explained_in_the_widget(uploader: ImageUploader) -> None:
    uploader.upload.value = _upload_value("notes<b>.txt", NOT_AN_IMAGE)

    shown = uploader.result.value
    assert 'class="upload-error"' in shown
    assert "not_an_image" in shown and "not an image" in shown
    assert "notes&lt;b&gt;.txt" in shown, "the file name is shown escaped"
    assert "Traceback" not in shown


def test_a_down_model_server_is_explained_in_the_widget_quickly() -> None:
    widget = ImageUploader(f"tcp://127.0.0.1:{free_port()}")
    started = time.perf_counter()
    try:
        widget.upload.value = _upload_value("sunset.jpg", SUNSET)
        shown = widget.result.value
    finally:
        widget.close()
    assert time.perf_counter() - started < DOWN_SERVER_NOTICED_WITHIN_S
    assert 'class="upload-error"' in shown
    assert "No model server is answering" in shown


def test_an_unexpected_failure_is_shown_in_the_widget_not_raised(uploader: ImageUploader) -> None:
    uploader.client.close()  # a closed client raises RuntimeError: nothing a user could cause
    uploader.upload.value = _upload_value("sunset.jpg", SUNSET)
    assert "Unexpected error" in uploader.result.value
    assert "closed" in uploader.result.value


def test_clearing_the_upload_keeps_the_last_result(uploader: ImageUploader) -> None:
    uploader.upload.value = _upload_value("sunset.jpg", SUNSET)
    shown = uploader.result.value
    uploader.upload.value = ()
    assert uploader.result.value == shown


def test_file_from_upload_reads_ipywidgets_8_values() -> None:
    assert file_from_upload(_upload_value("a.jpg", b"abc")) == ("a.jpg", b"abc")
    assert file_from_upload(()) is None



def test_the_widget_reads_uploads_and_captions_them_with_the_functions_given(model_server) -> None:
    read, said = [], []

    def file_from_upload(value):
        read.append(value)
        return value[0]["name"], bytes(value[0]["content"])

    def upload_message(value, client):
        said.append(client.predict(b"ignored").predictions[0].label)
        return f"first: {said[-1]}"

    widget = ImageUploader(model_server.address, read_upload=file_from_upload, message=upload_message)
    try:
        widget.handle_upload(upload_value("sunset.jpg", SUNSET))
        shown = widget.result.value
    finally:
        widget.close()
    assert len(read) == 1 and said == [widget.last_outcome.reply.predictions[0].label]
    assert f"first: {said[0]}" in shown and 'class="bar"' in shown, "the caption sits above the full result"


def test_a_learners_function_that_raises_is_shown_not_raised(model_server) -> None:
    def broken(value):
        raise KeyError("content")

    widget = ImageUploader(model_server.address, read_upload=broken,
                           message=lambda value, client: 1 / 0)
    try:
        widget.handle_upload(upload_value("sunset.jpg", SUNSET))
        assert "broken raised KeyError" in widget.result.value
        widget.read_upload = file_from_upload
        widget.handle_upload(upload_value("sunset.jpg", SUNSET))
        assert "ZeroDivisionError" in widget.result.value and 'class="bar"' in widget.result.value
    finally:
        widget.close()


def test_until_the_exercise_is_written_the_widget_uses_the_reference_and_says_so(
    model_server, capsys, monkeypatch, tmp_path
) -> None:
    """With the stubs as shipped (not the checkout's exercises/, which may be written)."""
    shipped = stubs.copy_into(tmp_path / "exercises")
    monkeypatch.setattr(answers, "package_directory", lambda package=answers.LEARNER: shipped)
    widget = ImageUploader.with_learners_code(model_server.address)
    try:
        said = capsys.readouterr().out
        assert said.startswith(answers.FALLBACK_OPENING + "nb05_widget.py: file_from_upload"), said
        assert widget.read_upload.__module__ == "solutions.nb05_widget"
        widget.handle_upload(upload_value("sunset.jpg", SUNSET))
        assert "solutions.nb05_widget.upload_message" in widget.result.value
        widget.upload_file("sunset.jpg", SUNSET)  # a later cell: it says so again, first
        said = capsys.readouterr().out
        assert said.startswith(answers.FALLBACK_OPENING + "nb05_widget.py: file_from_upload, upload_message"), said
    finally:
        widget.close()


def test_a_file_sent_without_a_browser_shows_what_the_widget_shows(model_server) -> None:
    widget = ImageUploader(model_server.address, message=lambda value, client: "said by the learner")
    try:
        shown = widget.upload_file("sunset.jpg", SUNSET)
        assert shown.data == widget.result.value and "said by the learner" in shown.data
    finally:
        widget.close()
