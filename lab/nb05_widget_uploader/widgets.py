"""The notebook's image uploader: an ipywidgets 8 ``FileUpload`` wired to the model server.

Choosing a file sends it to the running model server and shows the image, the top 3 with
probability bars and the round-trip time. Anything that goes wrong (not an image, the server down
or too slow) is shown in the widget as a message: a widget callback that raised would only print
a traceback into the browser console, where nobody sees it.

The work is split so that a test can do it without a browser: ``classify_upload`` turns an upload
into an ``UploadOutcome`` (a plain function), ``render_outcome`` turns that into HTML, and
``ImageUploader.handle_upload`` is the callback that does both.
"""

from __future__ import annotations

import datetime as dt
import html
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
from IPython.display import HTML

from lab.show.display import predictions_html, runtime_text, thumbnail_data_uri, weights_note
from model_server.client import ModelClient, ModelServerTimeout, ModelServerUnavailable
from model_server.protocol import PredictReply, ServerError

#: The widget's client gives up quickly: a person is waiting and can simply try again.
WIDGET_TIMEOUT_S = 10.0
WIDGET_RETRIES = 1


@dataclass(frozen=True)
class UploadOutcome:
    """What happened to one upload: a reply, or an error message for the person who uploaded."""

    filename: str
    image: bytes = field(repr=False)
    reply: PredictReply | None = None
    round_trip_ms: float | None = None
    error: str | None = None

    def _repr_html_(self) -> str:
        return render_outcome(self)


def file_from_upload(value: Sequence[Any]) -> tuple[str, bytes] | None:
    """The name and bytes of the first file in a ``FileUpload.value``, or ``None`` if empty.

    In ipywidgets 8 the value is a tuple of dicts whose ``content`` is a ``memoryview``.
    """
    if not value:
        return None
    uploaded = value[0]
    return str(uploaded["name"]), bytes(uploaded["content"])


def upload_value(filename: str, content: bytes, mime_type: str = "image/jpeg") -> tuple[dict[str, Any], ...]:
    """``FileUpload.value`` as ipywidgets 8 sets it when the browser sends one file: for runs
    without a browser, through the same handler as a click."""
    return ({"name": filename, "type": mime_type, "size": len(content), "content": memoryview(content),
             "last_modified": dt.datetime.now(dt.timezone.utc)},)


class _Answered:
    """A client that answers what the model server already said about this upload.

    The learner's ``upload_message(value, client)`` calls ``client.predict``; given this one it
    reads the reply the widget already has, so one upload is still one request.
    """

    def __init__(self, outcome: UploadOutcome):
        self._outcome = outcome

    def predict(self, image: bytes, top: int = 3) -> PredictReply:
        if self._outcome.reply is None:
            raise ServerError("error", self._outcome.error or "no reply")
        return self._outcome.reply


def classify_upload(client: ModelClient, filename: str, image: bytes) -> UploadOutcome:
    """Ask the model server about one uploaded file; never raises for what a user can cause."""
    started = time.perf_counter()
    try:
        reply = client.predict(image)
    except ServerError as error:
        return UploadOutcome(filename, image, error=_error_text(error))
    except ValueError as error:  # a reply that is not this protocol
        return UploadOutcome(filename, image, error=f"the model server's reply was unreadable: {error}")
    round_trip_ms = (time.perf_counter() - started) * 1000
    return UploadOutcome(filename, image, reply=reply, round_trip_ms=round_trip_ms)


def _error_text(error: ServerError) -> str:
    if isinstance(error, (ModelServerUnavailable, ModelServerTimeout)):
        return error.message[:1].upper() + error.message[1:]
    return f"The model server refused this file ({error.code}): {error.message}"


def render_outcome(outcome: UploadOutcome) -> str:
    """The HTML the widget shows for one upload."""
    name = html.escape(outcome.filename)
    if outcome.error is not None:
        return (f'<div class="upload-error" style="border:2px solid #c0392b;padding:8px">'
                f"<strong>{name}</strong>: {html.escape(outcome.error)}</div>")
    assert outcome.reply is not None and outcome.round_trip_ms is not None
    reply = outcome.reply
    thumbnail = thumbnail_data_uri(outcome.image)
    picture = (f'<img src="{thumbnail}" alt="{name}" style="max-width:224px;margin-right:16px">'
               if thumbnail else "")
    timings = reply.timings
    in_server = (f"; in the server: decode {timings.decode:.1f} ms, preprocess {timings.preprocess:.1f} ms, "
                 f"inference {timings.inference:.1f} ms" if timings else "")
    return (
        f'<div class="upload-result">{weights_note(reply.weights)}'
        f'<div style="display:flex;align-items:flex-start">{picture}<div>'
        f"<h4>{name}</h4>{predictions_html(reply.predictions)}"
        f'<p class="round-trip">Round trip: <strong>{outcome.round_trip_ms:.0f} ms</strong> '
        f"({html.escape(runtime_text(reply))}{in_server})</p></div></div></div>"
    )


class ImageUploader:
    """A ``FileUpload`` button and the result of the last upload below it.

    Display it as the last expression of a cell. ``show_file`` sends a file without clicking,
    through the same handler, so the notebook can also run unattended.
    """

    def __init__(
        self, address: str, timeout: float = WIDGET_TIMEOUT_S, retries: int = WIDGET_RETRIES,
        read_upload: Callable[[Sequence[Any]], tuple[str, bytes] | None] = file_from_upload,
        message: Callable[[Sequence[Any], Any], str] | None = None,
    ):
        #: Reads ``FileUpload.value`` (the learner's ``file_from_upload`` once written), and the
        #: one line shown above each result (their ``upload_message``), if any.
        self.read_upload = read_upload
        self.message = message
        self.client = ModelClient(address, timeout=timeout, retries=retries)
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="Choose an image")
        self.result = widgets.HTML(value="<em>Choose an image to classify it.</em>")
        self.widget = widgets.VBox([self.upload, self.result])
        self.last_outcome: UploadOutcome | None = None
        self.upload.observe(self._on_value_change, names="value")

    @classmethod
    def with_learners_code(cls, address: str, **options: Any) -> ImageUploader:
        """The uploader reading uploads with the learner's ``file_from_upload`` and captioning them
        with their ``upload_message`` (``exercises/nb05_widget.py``), the reference ones until
        written; ``lab.learner.answers`` prints which."""
        from lab.learner import answers

        return cls(address, read_upload=answers.learner_or_reference("nb05_widget", "file_from_upload"),
                   message=answers.learner_or_reference("nb05_widget", "upload_message"), **options)

    def _on_value_change(self, change: dict[str, Any]) -> None:
        try:
            self.handle_upload(change["new"])
        except Exception as error:  # the widget boundary: show it, never a traceback
            self.result.value = (f'<div class="upload-error">Unexpected error: '
                                 f"{html.escape(repr(error))}</div>")

    def handle_upload(self, value: Sequence[Any]) -> UploadOutcome | None:
        """Classify the uploaded file and show the outcome; an empty value changes nothing."""
        try:
            uploaded = self.read_upload(value)
        except Exception as error:  # the learner's code: say what it did
            self.result.value = (f'<div class="upload-error">{_name(self.read_upload)} raised '
                                 f"{html.escape(repr(error))}</div>")
            return None
        if uploaded is None:
            return None
        self.result.value = f"<em>Classifying {html.escape(str(uploaded[0]))}…</em>"
        outcome = self.show_file(*uploaded)
        if self.message is not None:
            try:
                line = str(self.message(value, _Answered(outcome)))
            except Exception as error:  # the learner's code: say what it did
                line = f"raised {error!r}"
            self.result.value = (f'<p class="upload-message"><code>{_name(self.message)}</code>: '
                                 f"{html.escape(line)}</p>" + self.result.value)
        return outcome

    def upload_file(self, filename: str, content: bytes, mime_type: str = "image/jpeg") -> HTML:
        """Send a file through the click's handler (the learner's functions included) and return
        what the widget now shows, for cells that run without a browser. A reference answer
        standing in for the learner's is said first, in every cell that runs it."""
        from lab.learner import answers

        references = [fn.__name__ for fn in (self.read_upload, self.message)
                      if getattr(fn, "__module__", "").startswith(f"{answers.REFERENCE}.")]
        if references:
            answers.announce_fallback("nb05_widget", references)
        self.handle_upload(upload_value(filename, content, mime_type))
        return HTML(self.result.value)

    def show_file(self, filename: str, image: bytes) -> UploadOutcome:
        outcome = classify_upload(self.client, filename, image)
        self.last_outcome = outcome
        self.result.value = render_outcome(outcome)
        return outcome

    def close(self) -> None:
        self.client.close()
        self.widget.close()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def _name(function: Callable[..., Any]) -> str:
    """``exercises.nb05_widget.upload_message``: whose function it was, for the widget's text."""
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', function)}"
