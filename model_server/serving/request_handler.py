"""One request in, one reply out, inside a worker thread: decode, wait for the batch, reply.

The broker hands each worker thread ``[ticket, budget, *request frames]`` (``framing``); the
thread's ``RequestHandler`` turns the request frames into the one reply frame its client gets,
whatever goes wrong: a bad request, an image that cannot be decoded, a model that fails.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..images import decode_image, pixels_of
from ..models.classifier import Classifier
from ..models.pipeline import reply_from, stage_timings
from ..protocol import (
    ErrorCode,
    PingRequest,
    PredictReply,
    PredictRequest,
    RequestError,
    ServerInfo,
    StatsRequest,
    Timings,
    decode_request,
    encode_reply,
    encode_server_info,
    error_reply_for,
    worker_name,
)
from .batching import Batcher
from .settings import SUPERVISE_INTERVAL_S, ServerSettings

log = logging.getLogger(__name__)

#: How replies name the process that answered them.
WORKER_NAME = worker_name()


class RequestHandler:
    """Turns one request frame into one reply frame. Never raises: every failure is a reply.

    (Except ``DecodeAbandoned``: a decode given up by the worker pool's supervisor, which has
    answered the request itself; see ``batching``.)
    """

    def __init__(self, classifier: Classifier, settings: ServerSettings, batcher: Batcher,
                 on_answered: Callable[[Timings], None] = lambda timings: None):
        """``on_answered`` is given the timings of each prediction answered (for the metrics)."""
        self._classifier = classifier
        self._settings = settings
        self._batcher = batcher
        self._on_answered = on_answered

    def __call__(self, body: list[bytes], deadline: float | None = None) -> bytes:
        """Answer a request of one JSON frame, or a JSON header and a raw image frame, in the
        request's dialect (``protocol``: ours, or the original write-up's).

        Past ``deadline`` (``time.monotonic()``) the request is not computed: its client has
        given up, and the broker has answered it already.
        """
        started = time.perf_counter()
        frame = body[0] if body else b""
        try:
            if deadline is not None and time.monotonic() > deadline:
                raise RequestError("the request's deadline passed before a worker got to it; "
                                   "it was not computed", ErrorCode.DEADLINE_EXCEEDED)
            if len(body) not in (1, 2):
                raise RequestError(
                    f"a request is one JSON frame, or a JSON header and an image frame; got {len(body)} frames"
                )
            request = decode_request(frame, body[1] if len(body) == 2 else None)
            if isinstance(request, PingRequest):
                return encode_server_info(self.server_info(request.id))
            if isinstance(request, StatsRequest):
                raise RequestError('"stats" is answered by the model server\'s broker, not by a worker')
            reply = self._predict(request, started, deadline)
        except RequestError as error:
            log.info("refused a request: %s: %s", error.code.value, error.message)
            return error_reply_for(frame, error.code, error.message)
        except Exception:
            log.exception("failed to answer a request")
            return error_reply_for(frame, ErrorCode.INTERNAL,
                                   "the model server failed on this request; see its log")
        return encode_reply(reply, original=request.original)

    def _predict(self, request: PredictRequest, started: float, deadline: float | None) -> PredictReply:
        if request.pixels is not None:  # decoded by the client: nothing to decode or watch
            submitted = self._batcher.submit(pixels_of(request.pixels), deadline)
        else:
            submitted = self._batcher.decode_and_submit(
                lambda: decode_image(request.image, max_pixels=self._settings.max_pixels), deadline)
        decoded = time.perf_counter()
        # The pool's supervisor fails a hung batch after hang_timeout_s; waiting twice as long
        # is only a backstop, so that a worker can never wait forever.
        wait_s = 2 * self._settings.hang_timeout_s + SUPERVISE_INTERVAL_S
        try:
            result = submitted.result(timeout=wait_s)
        except TimeoutError:
            raise RequestError(f"the model did not answer within {wait_s:g} s",
                               ErrorCode.WORKER_LOST) from None
        predictions = self._classifier.top_predictions(result.probabilities, request.top)
        timings = stage_timings(started, decoded, result.preprocess_ms, result.inference_ms,
                                result.queued_ms)
        self._on_answered(timings)
        return reply_from(self._classifier, predictions, timings, request.id, batch=result.batch_size,
                          worker=WORKER_NAME)

    def server_info(self, request_id: str | None = None) -> ServerInfo:
        return ServerInfo(
            model=self._classifier.model_name,
            weights=self._classifier.weights,
            workers=self._settings.workers,
            id=request_id,
            worker=WORKER_NAME,
            runtime=self._classifier.runtime,
            precision=self._classifier.precision,
        )
