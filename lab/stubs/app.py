"""Notebook 06 exercise: the original write-up's ``app.py`` rebuilt, a Flask app that asks the model server over ZeroMQ.

``python -m exercises.app --port 5000 --model-address tcp://127.0.0.1:5576`` serves it. The page
``/`` has the upload form; ``/uploader`` sends the upload to the model server in the lab's
JSON (``{"image": "<base64>"}``; the original's own app sends ``{"payload", "_rid"}`` from a
DEALER and waits for ever) and renders its top 3. A ZeroMQ ``connect`` succeeds even when
nobody listens, so a down server and a slow one look alike unless the socket is told to send only
over a live connection (``ZMQ_IMMEDIATE``): then "down" is "no connection within
``MODEL_SERVER_CONNECT_TIMEOUT_S``" (503) and "too slow" is "connected, but no reply within the
timeout, after the retries" (504).
"""

from __future__ import annotations

import argparse
import base64
import json
from collections.abc import Mapping
from typing import Any

import zmq  # you will need it
from flask import Blueprint, Flask, current_app, render_template_string, request  # you will need these

#: Where the model server listens, and how long and how often the web app waits for it.
DEFAULTS = {
    "MODEL_SERVER_ADDRESS": "tcp://127.0.0.1:5576",
    "MODEL_SERVER_TIMEOUT_S": 5.0,
    "MODEL_SERVER_RETRIES": 2,
    "MODEL_SERVER_CONNECT_TIMEOUT_S": 0.5,
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
}
FILE_FIELD = "file"

UPLOAD_PAGE = """<!doctype html>
<title>ResNet50 over ZeroMQ</title>
<main>
  <h1>Classify an image</h1>
  <form action="/uploader" method="post" enctype="multipart/form-data">
    <input type="file" name="file" accept="image/*"> <input type="submit" value="Upload">
  </form>
</main>
"""
RESULT_PAGE = """<!doctype html>
<title>{{ filename }}: ResNet50 over ZeroMQ</title>
<main>
  <h1>{{ filename }}</h1>
  <ol>{% for label, probability in predictions %}
    <li>{{ label }}: {{ "%.1f" | format(probability * 100) }}%</li>{% endfor %}
  </ol>
  <p><a href="/">Another image</a></p>
</main>
"""
ERROR_PAGE = """<!doctype html>
<title>Error {{ status }}: ResNet50 over ZeroMQ</title>
<main>
  <h1>Error {{ status }}</h1>
  <p>{{ message }}</p>
  <p><a href="/">Try again</a></p>
</main>
"""


class ModelServerDown(Exception):
    """No connection to the model server came up: nothing listens at its address."""


class ModelServerTooSlow(Exception):
    """Connected, but no reply came within the timeout, on any attempt."""


pages = Blueprint("pages", __name__)


@pages.get("/")
def _index() -> str:
    return render_template_string(UPLOAD_PAGE)


def _error_page(status: int, message: str) -> tuple[str, int]:
    """The error page with ``message`` (escaped by Jinja) and its HTTP status."""
    return render_template_string(ERROR_PAGE, status=status, message=message), status


def _original_request(image: bytes) -> bytes:
    """The request your test client sends (notebook 04): the image in base64 in one JSON field."""
    return json.dumps({"image": base64.b64encode(image).decode("ascii")}).encode()


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The web app: Flask's application factory, as in Flask's tutorial.

    Make ``Flask(__name__)``, load ``DEFAULTS`` into its config with ``app.config.from_mapping``,
    then, if ``test_config`` is given, load that over them (a test sets its own model server
    address and short timeouts this way). Register the ``pages`` blueprint (it holds ``/`` and
    ``/uploader``) and return the app.
    """
    raise NotImplementedError("write create_app in exercises/app.py")


def ask_model_server(
    request_frame: bytes, address: str, timeout_s: float, retries: int, connect_timeout_s: float
) -> bytes:
    """Send ``request_frame`` to the model server on a REQ socket and return its reply frame.

    Never wait forever, and say which of two things went wrong:

    - **Down.** ``connect`` succeeds even when nothing listens, and a plain REQ socket would queue
      the request for a server that is not there. Set ``zmq.IMMEDIATE`` to 1 before connecting:
      then the socket is writable (``socket.poll(ms, zmq.POLLOUT)``) only once a connection is
      up. Not writable within ``connect_timeout_s``: raise ``ModelServerDown``.
    - **Too slow.** Connected and sent, but ``socket.poll(ms, zmq.POLLIN)`` saw no reply within
      ``timeout_s``: a REQ socket that got no reply cannot send again, so close it, open a fresh
      one and try again, ``retries`` more times (the Lazy Pirate), then raise ``ModelServerTooSlow``.

    Set ``LINGER`` to 0 and close every socket you open (``try``/``finally``). Poll takes
    milliseconds. One context per process: ``zmq.Context.instance()``.
    """
    raise NotImplementedError("write ask_model_server in exercises/app.py")


@pages.post("/uploader")
def uploader() -> str | tuple[str, int]:
    """The view of ``POST /uploader``: the uploaded image's top 3, or an error page.

    The form sends the file in the field ``FILE_FIELD`` (``request.files``). Answer with
    ``_error_page(status, message)`` when:

    - no file was chosen (no field, or an empty file name) or the file is empty (0 bytes): 400;
    - the model server is down (``ModelServerDown``): 503; too slow (``ModelServerTooSlow``): 504,
      each with the exception's message;
    - the model server's reply is an error, ``{"error": {"code", "message"}}`` (not an image):
      400 with its message.

    Otherwise send ``_original_request(image)`` with ``ask_model_server``, using the address,
    timeout, retries and connect timeout from ``current_app.config``, and return
    ``render_template_string(RESULT_PAGE, filename=..., predictions=[(label, probability), ...])``
    from the reply's ``"predictions"``, in the order given.
    """
    raise NotImplementedError("write uploader in exercises/app.py")


def _main(argv: list[str] | None = None) -> None:
    """``python -m <package>.app --port P --model-address A``: serve with Flask's own server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--model-address", default=DEFAULTS["MODEL_SERVER_ADDRESS"])
    args = parser.parse_args(argv)
    app = create_app({"MODEL_SERVER_ADDRESS": args.model_address})
    app.run(host="127.0.0.1", port=args.port, threaded=True)


if __name__ == "__main__":
    _main()
