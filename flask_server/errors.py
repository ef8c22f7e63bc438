"""How the web app answers failures: one status per kind of error, as a page or as JSON.

This is the one place where model server error codes become HTTP statuses.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from model_server.client import ModelServerTimeout, ModelServerUnavailable
from model_server.protocol import ErrorCode, RequestError, ServerError

#: Seconds a client is asked to wait before trying again when the model server is down.
RETRY_AFTER_S = 5

_STATUS_BY_CODE = {
    ErrorCode.IMAGE_TOO_LARGE.value: 413,
    # Well-formed, but this image could not be decoded in time: a client error, not to be retried.
    ErrorCode.DECODE_TIMEOUT.value: 422,
    ErrorCode.INTERNAL.value: 502,
    ErrorCode.BUSY.value: 503,
    ErrorCode.WORKER_LOST.value: 503,
    ErrorCode.STOPPING.value: 503,
    ErrorCode.DEADLINE_EXCEEDED.value: 504,
    ErrorCode.MISMATCHED_REPLY.value: 502,
}


class UploadError(Exception):
    """The request itself is unusable (no file, empty file); always a 400."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def status_for(error: ServerError) -> int:
    if isinstance(error, ModelServerUnavailable):
        return 503
    if isinstance(error, ModelServerTimeout):
        return 504
    return _status_for_code(error.code)


def _status_for_code(code: str) -> int:
    return _STATUS_BY_CODE.get(code, 400)


def error_response(code: str, message: str, status: int) -> Response:
    """A JSON body under ``/api/``, an HTML page elsewhere; both name the code and the cause."""
    if request.path.startswith("/api/"):
        response = jsonify(error={"code": code, "message": message})
    else:
        response = make_response(render_template("error.html", code=code, message=message, status=status))
    response.status_code = status
    metrics = current_app.extensions.get("metrics")
    if metrics is not None:
        metrics.errors.labels(code, str(status)).inc()
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(UploadError)
    def upload_error(error: UploadError) -> Response:
        return error_response(error.code, error.message, 400)

    @app.errorhandler(RequestError)
    def bad_image(error: RequestError) -> Response:
        """The monolith decodes images itself; the same image gets the same status as via the server."""
        return error_response(error.code.value, error.message, _status_for_code(error.code.value))

    @app.errorhandler(ServerError)
    def model_server_error(error: ServerError) -> Response:
        return error_response(error.code, error.message, status_for(error))

    @app.errorhandler(413)
    def too_large(error: HTTPException) -> Response:
        """Werkzeug also answers 413 for a small form with too many parts or a large text field."""
        limit = app.config["MAX_CONTENT_LENGTH"]
        if limit is not None and (request.content_length is None or request.content_length > limit):
            return error_response(
                "upload_too_large", f"the upload is larger than the limit of {limit / 2**20:g} MiB", 413
            )
        return error_response(
            "form_too_large",
            f"the form has more than {app.config['MAX_FORM_PARTS']} parts or a text field above "
            f"{app.config['MAX_FORM_MEMORY_SIZE'] / 1000:g} KB: send only the image, as the file field 'file'",
            413,
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return error_response(
            (error.name or "error").lower().replace(" ", "_"), error.description or "", error.code or 500
        )
