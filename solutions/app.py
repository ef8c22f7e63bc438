"""Notebook 06: the original write-up's ``app.py`` rebuilt, a Flask app that asks the model server over ZeroMQ.

``python -m solutions.app --port 5000 --model-address tcp://127.0.0.1:5576`` serves it. The page
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

import zmq
from flask import Blueprint, Flask, current_app, render_template_string, request

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
    """The web app, configured from ``DEFAULTS`` and then ``test_config``, with ``pages``."""
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    if test_config is not None:
        app.config.from_mapping(test_config)
    app.register_blueprint(pages)
    return app


def ask_model_server(
    request_frame: bytes, address: str, timeout_s: float, retries: int, connect_timeout_s: float
) -> bytes:
    """Send one request frame and return the reply frame; Lazy Pirate, down told from slow."""
    context = zmq.Context.instance()
    for _ in range(1 + retries):
        socket = context.socket(zmq.REQ)
        socket.linger = 0
        socket.setsockopt(zmq.IMMEDIATE, 1)
        try:
            socket.connect(address)
            if not socket.poll(connect_timeout_s * 1000, zmq.POLLOUT):
                raise ModelServerDown(f"no model server is answering at {address} (is it running?)")
            socket.send(request_frame)
            if socket.poll(timeout_s * 1000, zmq.POLLIN):
                return socket.recv()
        finally:
            socket.close()
    raise ModelServerTooSlow(f"the model server at {address} did not answer within {timeout_s:g} s "
                             f"({1 + retries} attempts)")


@pages.post("/uploader")
def uploader() -> str | tuple[str, int]:
    """The upload's top 3 as a page, or an error page with the status that says whose fault."""
    upload = request.files.get(FILE_FIELD)
    if upload is None or not upload.filename:
        return _error_page(400, f"no file was uploaded: choose an image (form field '{FILE_FIELD}')")
    image = upload.read()
    if not image:
        return _error_page(400, f"the file {upload.filename!r} is empty")
    config = current_app.config
    try:
        frame = ask_model_server(_original_request(image), config["MODEL_SERVER_ADDRESS"],
                                 config["MODEL_SERVER_TIMEOUT_S"], config["MODEL_SERVER_RETRIES"],
                                 config["MODEL_SERVER_CONNECT_TIMEOUT_S"])
    except ModelServerDown as error:
        return _error_page(503, str(error))
    except ModelServerTooSlow as error:
        return _error_page(504, str(error))
    reply = json.loads(frame)
    if "error" in reply:
        return _error_page(400, reply["error"]["message"])
    predictions = [(p["label"], p["probability"]) for p in reply["predictions"]]
    return render_template_string(RESULT_PAGE, filename=upload.filename, predictions=predictions)


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
