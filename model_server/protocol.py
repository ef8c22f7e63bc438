"""The model server's wire format: one JSON object per ZeroMQ frame, both ways.

Two dialects, told apart by their fields:

- **The original's**, as the write-up's published code speaks it: a DEALER client sends one frame,
  ``{"payload": "<the image file in base64>", "_rid": "<its own uuid>"}``, and gets one frame,
  ``{"preds": "label : 0.12345, label : 0.0678, label : 0.01234"}``: the top 3 in one string,
  each probability rounded to 5 places (``format_original_preds``). A request with ``"payload"``
  or ``"_rid"`` is in this dialect. Its reply carries ``"preds"``, echoes ``"_rid"``, and also has
  every field of our own reply below. An error reply to it carries ``"preds"`` too, as
  ``"error: <code>: <message>"``, beside ``"error"``: the original's client reads ``preds`` and
  would fail on a reply without it.
- **Ours**: a JSON object whose ``"image"`` field holds the base64-encoded image file; ``"top"``
  (how many classes to return) and ``"id"`` (echoed back) are optional. The same request may
  instead come as two frames: the JSON without ``"image"``, then the image file's raw bytes (no
  base64). Or, from a client that has decoded the image already (the web
app), a JSON header with ``"pixels": {"shape": [224, 224, 3], "dtype": "uint8"}`` and then the
224×224 RGB pixels themselves, row by row (``PIXELS_SHAPE``): the server does not decode them,
and checks shape, dtype and byte count exactly. ``{"op": "ping"}`` asks the server who it is, without an image.

Our reply holds ``"predictions"`` (``{"label", "wnid", "probability"}`` in descending order),
``"weights"``, ``"model"``, ``"runtime"`` and ``"precision"`` (which engine computed it, at which
number format) and per-stage ``"timings"`` in milliseconds; a failure holds
``"error": {"code", "message"}`` instead. Both echo the request's ``"id"`` when it had one.

Every request may say how long its client will wait, ``"deadline_ms"`` (relative, since the
clocks of different machines differ); the server does not compute what nobody waits for any more.
``{"op": "stats"}`` is answered by the broker itself: queue depth, workers, batch sizes, counts.
The broker and remote worker processes speak a small framing of their own (``serving.framing``).

This module imports neither TensorFlow nor ZeroMQ: the server, the clients, the web app and the
notebooks all share it, and it is the only place that spells a field name, an error code or how
a worker is named.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
import reprlib
import socket
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, TypeGuard

DEFAULT_ADDRESS = "tcp://127.0.0.1:5576"
DEFAULT_TOP = 3
#: The ``"weights"`` a reply names: these two, or the path of a weights file.
IMAGENET = "imagenet"
UNTRAINED = "untrained"
#: The ``"runtime"`` a reply names: the engine that ran the model.
TENSORFLOW = "tensorflow"
OPENVINO = "openvino"
RUNTIMES = (TENSORFLOW, OPENVINO)
#: The ``"precision"`` a reply names: the number format of the model's arithmetic.
F32 = "f32"
BF16 = "bf16"
PRECISIONS = (F32, BF16)
NUM_CLASSES = 1000
#: The pixels a ``"pixels"`` request carries: height, width and RGB channels of ResNet50's input,
#: one unsigned byte each, row by row (C order).
PIXELS_SHAPE = (224, 224, 3)
PIXELS_DTYPE = "uint8"
PIXELS_BYTES = PIXELS_SHAPE[0] * PIXELS_SHAPE[1] * PIXELS_SHAPE[2]
#: The largest request frame the server reads; a larger one drops the sender's connection.
#: It fits a 32 MiB upload after base64 (4/3) with room for the JSON around it.
MAX_REQUEST_BYTES = 48 * 1024 * 1024
#: The longest ``"id"`` a request may carry: a longer one is refused (``bad_request``) and not
#: echoed, so that an error reply never sends megabytes of id back.
MAX_ID_LENGTH = 256
#: What kind of worker answered, in the broker's stats: the threads in the server's own process,
#: or a worker process that joined it (``python -m model_server worker``).
LOCAL_WORKER = "local"
REMOTE_WORKER = "remote"
WORKER_KINDS = (LOCAL_WORKER, REMOTE_WORKER)
#: How the broker's stats name the server's own worker threads, after its ``worker_name``.
LOCAL_THREADS_SUFFIX = " (threads)"
#: The fields of the original write-up's dialect: the image file in base64, the client's own
#: request id (echoed), and the reply's top 3 as one string.
ORIGINAL_PAYLOAD = "payload"
ORIGINAL_RID = "_rid"
ORIGINAL_PREDS = "preds"
#: How many classes the original's ``"preds"`` names.
ORIGINAL_TOP = 3
#: The largest request frame the broker parses whole to read its header; in a larger one it cuts
#: the ``"image"`` value out first, and refuses to parse what is left if that is larger still.
WHOLE_HEADER_BYTES = 64 * 1024


class ErrorCode(str, Enum):
    """Why a request failed; clients map these to their own statuses.

    The server sends the codes up to ``STOPPING`` in its error replies; ``ModelClient`` raises
    the last four itself, for a server that cannot be reached or answers wrongly.
    """

    BAD_JSON = "bad_json"
    BAD_REQUEST = "bad_request"
    BAD_BASE64 = "bad_base64"
    EMPTY_IMAGE = "empty_image"
    NOT_AN_IMAGE = "not_an_image"
    UNREADABLE_IMAGE = "unreadable_image"
    IMAGE_TOO_LARGE = "image_too_large"
    #: Decoding the image took longer than the server's hang timeout and was given up. The image
    #: is the likely cause: sent again, it would hang again.
    DECODE_TIMEOUT = "decode_timeout"
    INTERNAL = "internal"
    BUSY = "busy"
    #: The request's deadline passed before it was answered; its client has stopped waiting.
    DEADLINE_EXCEEDED = "deadline_exceeded"
    #: The worker answering the request died or hung, and it could not be answered elsewhere.
    WORKER_LOST = "worker_lost"
    #: The server is stopping: it takes no new request, and this one was not finished within its
    #: drain time. Another server, or this one restarted, can answer it.
    STOPPING = "stopping"
    #: Nothing is listening at the server's address (it is down or starting).
    UNAVAILABLE = "unavailable"
    #: The server is there but refused the client's CURVE key, or wants keys it has none of.
    REFUSED = "refused"
    #: The server did not answer in time, even after retries.
    TIMEOUT = "timeout"
    #: A reply carried the id of another request: the server does not speak this protocol right.
    MISMATCHED_REPLY = "mismatched_reply"


class RequestError(Exception):
    """A request the server cannot answer with predictions; the message is shown to the user."""

    code = ErrorCode.BAD_REQUEST

    def __init__(self, message: str, code: ErrorCode | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class ServerError(Exception):
    """The server answered with an error reply: ``code`` says why, ``message`` says what to do."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PredictRequest:
    #: The image file's bytes; empty when the request carries ``pixels`` instead.
    image: bytes
    top: int = DEFAULT_TOP
    id: str | None = None
    #: How long the client waits for the answer, in milliseconds from when it sent the request.
    deadline_ms: float | None = None
    #: The decoded pixels (``PIXELS_BYTES`` bytes of ``PIXELS_SHAPE``), for a ``"pixels"`` request.
    pixels: bytes | None = None
    #: In the original write-up's dialect (``"payload"``, ``"_rid"``): answered with ``"preds"``,
    #: and ``id`` is its ``"_rid"``.
    original: bool = False


@dataclass(frozen=True)
class PingRequest:
    id: str | None = None


@dataclass(frozen=True)
class StatsRequest:
    id: str | None = None


@dataclass(frozen=True)
class RequestHeader:
    """What the broker reads of a request before passing it on; see ``read_header``."""

    op: str = "predict"
    #: The id to echo: ``"id"``, or ``"_rid"`` in the original's dialect.
    id: str | None = None
    deadline_ms: float | None = None
    #: The request is in the original write-up's dialect: its replies carry ``"preds"``.
    original: bool = False


@dataclass(frozen=True)
class Prediction:
    label: str
    wnid: str
    probability: float


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent in each stage of one request inside the server.

    With batching, ``preprocess`` and ``inference`` are those of the whole batch the image was
    in, and ``queue`` is how long the decoded image waited for the model.
    """

    decode: float
    preprocess: float
    inference: float
    total: float
    queue: float = 0.0


@dataclass(frozen=True)
class PredictReply:
    """A predict reply. ``weights``, ``model`` and ``timings`` are ``None`` when the server does not
    send them: a small server of our dialect may reply with the predictions (and id) only."""

    predictions: list[Prediction]
    weights: str | None = None
    model: str | None = None
    timings: Timings | None = None
    id: str | None = None
    #: How many images shared the forward pass that answered this one.
    batch: int = 1
    #: Which worker process answered (``host:pid``): in-process or remote.
    worker: str | None = None
    #: Which runtime computed the answer, at which precision (absent from older servers' replies).
    runtime: str | None = None
    precision: str | None = None


@dataclass(frozen=True)
class ServerInfo:
    """What a ping returns: enough to tell which model and weights will answer.

    ``workers`` counts the worker threads of the process that answered (its ``--workers``);
    ``extra`` holds the reply's other fields, as they came.
    """

    model: str
    weights: str
    workers: int
    id: str | None = None
    #: Which worker process answered the ping (``host:pid``).
    worker: str | None = None
    runtime: str | None = None
    precision: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def worker_name(host: str | None = None, pid: int | None = None) -> str:
    """How replies and stats name a worker process: ``host:pid``, this process's by default."""
    host = socket.gethostname() if host is None else host
    return f"{host}:{os.getpid() if pid is None else pid}"


def parse_worker_name(name: str) -> tuple[str, int]:
    """The host and process id in a worker's name (``worker_name``); raises ``ValueError``.

    The broker's stats call its own threads ``host:pid (threads)``; that suffix is ignored.
    """
    host, separator, pid = name.removesuffix(LOCAL_THREADS_SUFFIX).rpartition(":")
    if not separator:
        raise ValueError(f"{name!r} is not a worker name (host:pid)")
    return host, int(pid)


def _with_optional(message: dict[str, Any], request_id: str | None, deadline_ms: float | None) -> bytes:
    if request_id is not None:
        message["id"] = request_id
    if deadline_ms is not None:
        message["deadline_ms"] = deadline_ms
    return json.dumps(message).encode()


def encode_request(
    image: bytes, top: int = DEFAULT_TOP, request_id: str | None = None,
    deadline_ms: float | None = None,
) -> bytes:
    message: dict[str, Any] = {"image": base64.b64encode(image).decode("ascii"), "top": top}
    return _with_optional(message, request_id, deadline_ms)


def encode_ping(request_id: str | None = None, deadline_ms: float | None = None) -> bytes:
    return _with_optional({"op": "ping"}, request_id, deadline_ms)


def encode_stats_request(request_id: str | None = None) -> bytes:
    return _with_optional({"op": "stats"}, request_id, None)


def encode_original_request(image: bytes, rid: str | None = None) -> bytes:
    """A request as the original write-up's client sends it: ``{"payload": base64, "_rid": rid}``."""
    message: dict[str, Any] = {ORIGINAL_PAYLOAD: base64.b64encode(image).decode("ascii")}
    if rid is not None:
        message[ORIGINAL_RID] = rid
    return json.dumps(message).encode()


def format_original_preds(predictions: list[Prediction]) -> str:
    """The original's ``"preds"``: ``"label : 0.12345, label : 0.0678"``, most probable first."""
    return ", ".join(f"{p.label} : {round(p.probability, 5)}" for p in predictions)


def is_original(message: dict[str, Any]) -> bool:
    """Whether a request object is in the original write-up's dialect (``"payload"``, ``"_rid"``)."""
    return ORIGINAL_PAYLOAD in message or ORIGINAL_RID in message


def decode_original_reply(frame: bytes) -> str:
    """The ``"preds"`` string of a reply in the original's dialect; an error reply raises ``ServerError``."""
    message = load_object(frame, "reply")
    _raise_if_error(message)
    preds = message.get(ORIGINAL_PREDS)
    if not isinstance(preds, str):
        raise ValueError(f'the reply has no "{ORIGINAL_PREDS}" string: {_shown(message)}')
    return preds


def load_object(frame: bytes, what: str) -> dict[str, Any]:
    """The JSON object in ``frame``; raises ``RequestError`` (``bad_json``) naming ``what`` it is."""
    try:
        message = json.loads(frame)
    except (UnicodeDecodeError, ValueError) as error:
        raise RequestError(f"the {what} is not valid JSON: {error}", ErrorCode.BAD_JSON) from None
    except RecursionError:
        # A few hundred KB of "[[[[..." exhaust Python's stack in the json module.
        raise RequestError(f"the {what} is nested too deeply to read", ErrorCode.BAD_JSON) from None
    if not isinstance(message, dict):
        raise RequestError(
            f"the {what} must be a JSON object, not {type(message).__name__}", ErrorCode.BAD_JSON
        )
    return message


def _shown(value: Any, limit: int = 60) -> str:
    """A value for an error message, cut short: the message must not echo a huge request back."""
    text = reprlib.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _echoable_id(value: Any) -> str | None:
    return value if isinstance(value, str) and len(value) <= MAX_ID_LENGTH else None


def request_id_of(frame: bytes) -> str | None:
    """The id of a request (``"id"``, or ``"_rid"`` in the original's dialect), if one can be read
    and is at most ``MAX_ID_LENGTH`` long: error replies echo it whenever possible."""
    return read_header(frame).id


def error_reply_for(frame: bytes, code: ErrorCode | str, message: str) -> bytes:
    """The error reply to the request in ``frame``: its id echoed, in its dialect where it can be read."""
    header = read_header(frame)
    return encode_error(code, message, header.id, original=header.original)


def encode_request_frames(
    image: bytes, top: int = DEFAULT_TOP, request_id: str | None = None,
    deadline_ms: float | None = None,
) -> list[bytes]:
    """A request as two frames: a small JSON header, then the image file's bytes as they are.

    Saves the third that base64 adds and the work of encoding and decoding it; the server
    accepts both forms.
    """
    return [_with_optional({"top": top}, request_id, deadline_ms), image]


def encode_pixels_request_frames(
    pixels: bytes, shape: tuple[int, ...] = PIXELS_SHAPE, dtype: str = PIXELS_DTYPE,
    top: int = DEFAULT_TOP, request_id: str | None = None, deadline_ms: float | None = None,
) -> list[bytes]:
    """A request of decoded pixels: a JSON header naming their shape and dtype, then their bytes.

    The server takes only ``PIXELS_SHAPE`` of ``PIXELS_DTYPE``; the shape and dtype are sent
    anyway, so that the server can refuse anything else with a message saying what it got.
    """
    header = {"top": top, "pixels": {"shape": list(shape), "dtype": dtype}}
    return [_with_optional(header, request_id, deadline_ms), pixels]


def _checked_pixels(described: Any, frame: bytes | None) -> bytes:
    """The pixel frame of a ``"pixels"`` request, if it is exactly what the header says and
    what the model takes; raises ``RequestError`` saying what differs."""
    expected = f'{{"shape": {list(PIXELS_SHAPE)}, "dtype": "{PIXELS_DTYPE}"}}'
    if not isinstance(described, dict) or set(described) != {"shape", "dtype"}:
        raise RequestError(f'"pixels" must be {expected}, not {_shown(described)}')
    shape, dtype = described["shape"], described["dtype"]
    if (not isinstance(shape, list) or len(shape) != len(PIXELS_SHAPE)
            or any(type(n) is not int for n in shape) or tuple(shape) != PIXELS_SHAPE):
        raise RequestError(f'the pixels\' shape is {_shown(shape)}; the model takes '
                           f'{list(PIXELS_SHAPE)} (height, width, RGB): resize to 224×224 first')
    if dtype != PIXELS_DTYPE:
        raise RequestError(f'the pixels\' dtype is {_shown(dtype)}; the model takes "{PIXELS_DTYPE}" '
                           "(one byte per channel, 0 to 255)")
    if frame is None:
        raise RequestError(f'a "pixels" request sends the pixels as a second frame ({PIXELS_BYTES} '
                           "bytes); it had none")
    if len(frame) != PIXELS_BYTES:
        raise RequestError(f"the pixel frame is {len(frame)} bytes; {list(PIXELS_SHAPE)} of "
                           f"{PIXELS_DTYPE} is {PIXELS_BYTES}")
    return bytes(frame)


def _valid_deadline(value: Any) -> TypeGuard[float]:
    return (not isinstance(value, bool) and isinstance(value, (int, float)) and value > 0
            and math.isfinite(value))


#: The fields that carry a base64 image file: ours, and the original's.
_IMAGE_KEYS = (b'"image"', f'"{ORIGINAL_PAYLOAD}"'.encode())
#: What follows an image key up to its value's opening quote.
_TO_IMAGE_VALUE = re.compile(rb'\s*:\s*"')


def _without_image_value(frame: bytes, limit: int) -> tuple[bytes, str] | None:
    """``frame`` with the characters of its first ``"image"`` (or ``"payload"``) string cut out,
    and the name of that field, if what is left is at most ``limit`` bytes long; else ``None``.

    Base64 has no quotes and no backslashes, so the value ends at the next quote, found without
    reading it as JSON (``bytes.find`` of one byte runs at memory speed). The key is looked for
    only in the first ``limit`` bytes, since what comes before it is left: a frame without one
    costs no more than a small one. In valid JSON, ``"image"`` followed by a colon and a quote
    always ends at the opening quote of a string value (a quote inside a string is escaped, so
    ``"image"`` there would end the string), and a quote not preceded by a backslash closes that
    string: the result is the same JSON with that one string empty. A backslash before the quote
    (an escaped quote, or any escape at all, which base64 never has) gives up.
    """
    match = _image_value_start(frame, limit)
    if match is None:
        return None
    start, name = match
    end = frame.find(b'"', start)
    if end < 0 or frame[end - 1] == ord("\\") or start + len(frame) - end > limit:
        return None
    return frame[:start] + frame[end:], name


def _image_value_start(frame: bytes, limit: int) -> tuple[int, str] | None:
    """Where the value of the first image key within ``limit`` bytes starts, and that key's name."""
    found: list[tuple[int, str]] = []
    for image_key in _IMAGE_KEYS:
        key = frame.find(image_key, 0, limit)
        while key >= 0:
            match = _TO_IMAGE_VALUE.match(frame, key + len(image_key))
            if match is not None:
                found.append((match.end(), image_key.decode().strip('"')))
                break
            key = frame.find(image_key, key + 1, limit)
    return min(found) if found else None


def read_header(frame: bytes) -> RequestHeader:
    """The op, id and deadline of a request, as far as they can be read; never raises.

    The broker needs these to route a request and to time it out; anything malformed is passed
    on to a worker, whose ``decode_request`` says what is wrong. It reads every request on its one
    thread, so it must not read the image: a frame larger than ``WHOLE_HEADER_BYTES`` is parsed
    with its ``"image"`` value cut out (``_without_image_value``), and read as malformed if that
    cannot be done. The cost then stays that of the small JSON around the image, at any image size.
    A fault inside the image's value (not base64, not UTF-8) is not seen here; the worker sees it.
    """
    if len(frame) > WHOLE_HEADER_BYTES:
        cut = _without_image_value(frame, WHOLE_HEADER_BYTES)
        if cut is None:
            return RequestHeader(original=_looks_original(frame))
        rest, image_field = cut
        message = _json_object_or_none(rest)
        if message is None or message.get(image_field) != "":
            return RequestHeader(original=_looks_original(frame))
    else:
        message = _json_object_or_none(frame)
        if message is None:
            return RequestHeader(original=_looks_original(frame))
    original = is_original(message)
    op, deadline = message.get("op"), message.get("deadline_ms")
    return RequestHeader(
        op=op if isinstance(op, str) else "predict",
        id=_echoable_id(message.get(ORIGINAL_RID if original else "id")),
        deadline_ms=float(deadline) if _valid_deadline(deadline) else None,
        original=original,
    )


def _looks_original(frame: bytes) -> bool:
    """Whether a frame that cannot be read as JSON names a field of the original's dialect: its
    error reply then carries ``"preds"``, which the original's client reads."""
    head = frame[:WHOLE_HEADER_BYTES]
    return any(f'"{name}"'.encode() in head for name in (ORIGINAL_PAYLOAD, ORIGINAL_RID))


def _json_object_or_none(frame: bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(frame)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return message if isinstance(message, dict) else None


def decode_request(
    frame: bytes, image: bytes | None = None
) -> PredictRequest | PingRequest | StatsRequest:
    """Parse and validate a request; raises ``RequestError`` saying what is wrong.

    ``frame`` is the JSON; ``image`` is the raw image frame of a two-frame request, if any.
    """
    message = load_object(frame, "request")
    original = is_original(message)
    id_field, image_field = (ORIGINAL_RID, ORIGINAL_PAYLOAD) if original else ("id", "image")
    if original:
        for ours, theirs in (("image", ORIGINAL_PAYLOAD), ("id", ORIGINAL_RID)):
            if ours in message:
                raise RequestError(f'a request in the original\'s form ("{ORIGINAL_PAYLOAD}", '
                                   f'"{ORIGINAL_RID}") names its {ours} "{theirs}", not "{ours}"')
    request_id = message.get(id_field)
    if request_id is not None and not isinstance(request_id, str):
        raise RequestError(f'"{id_field}" must be a string')
    if request_id is not None and len(request_id) > MAX_ID_LENGTH:
        raise RequestError(f'"{id_field}" is {len(request_id)} characters long; the limit is {MAX_ID_LENGTH}')
    deadline_ms = message.get("deadline_ms")
    if deadline_ms is not None and not _valid_deadline(deadline_ms):
        raise RequestError(f'"deadline_ms" must be a positive number of milliseconds, not {deadline_ms!r}')
    op = message.get("op", "predict")
    if op == "ping":
        return PingRequest(id=request_id)
    if op == "stats":
        return StatsRequest(id=request_id)
    if op != "predict":
        raise RequestError(f'unknown "op" {_shown(op)}; use "predict", "ping" or "stats"')

    top = message.get("top", DEFAULT_TOP)
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= NUM_CLASSES:
        raise RequestError(
            f'"top" must be a whole number from 1 to {NUM_CLASSES}, not {_shown(top)}'
        )
    encoded = message.get(image_field)
    if "pixels" in message:
        if encoded is not None:
            raise RequestError(f'send the image either as "pixels" or as "{image_field}", not both')
        pixels = _checked_pixels(message["pixels"], image)
        return PredictRequest(image=b"", top=top, id=request_id, deadline_ms=deadline_ms,
                              pixels=pixels, original=original)
    if image is not None:
        if encoded is not None:
            raise RequestError(f'send the image either in "{image_field}" (base64) or as a second '
                               'frame, not both')
    elif encoded is None:
        raise RequestError(f'the request has no "{image_field}" field (the base64-encoded image file)')
    elif not isinstance(encoded, str):
        raise RequestError(f'"{image_field}" must be a base64 string, not {type(encoded).__name__}')
    else:
        try:
            image = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as error:
            raise RequestError(f'"{image_field}" is not valid base64: {error}', ErrorCode.BAD_BASE64) from None
    if not image:
        raise RequestError("the image is empty (0 bytes)", ErrorCode.EMPTY_IMAGE)
    return PredictRequest(image=bytes(image), top=top, id=request_id, deadline_ms=deadline_ms,
                          original=original)


def encode_reply(reply: PredictReply, original: bool = False) -> bytes:
    """Our reply; ``original`` adds the original's ``"preds"`` (its top 3) and echoes the id as ``"_rid"``."""
    message = asdict(reply)
    for optional in ("id", "worker", "runtime", "precision"):
        if message[optional] is None:
            del message[optional]
    if original:
        message = {ORIGINAL_PREDS: format_original_preds(reply.predictions[:ORIGINAL_TOP]), **message}
        if "id" in message:
            message[ORIGINAL_RID] = message.pop("id")
    return json.dumps(message).encode()


def encode_server_info(info: ServerInfo) -> bytes:
    message = {"op": "pong", "model": info.model, "weights": info.weights, "workers": info.workers}
    message.update(info.extra)
    for name in ("id", "worker", "runtime", "precision"):
        if getattr(info, name) is not None:
            message[name] = getattr(info, name)
    return json.dumps(message).encode()


def encode_error(code: ErrorCode | str, message: str, request_id: str | None = None,
                 original: bool = False) -> bytes:
    """An error reply. ``original``: to a request in the original's dialect, whose client reads
    ``"preds"`` and nothing else: it gets ``"preds": "error: <code>: <message>"`` too, and the id
    echoed as ``"_rid"``."""
    code = ErrorCode(code).value
    reply: dict[str, Any] = {"error": {"code": code, "message": message}}
    if original:
        reply = {ORIGINAL_PREDS: f"error: {code}: {message}", **reply}
    if request_id is not None:
        reply[ORIGINAL_RID if original else "id"] = request_id
    return json.dumps(reply).encode()


def _raise_if_error(message: dict[str, Any]) -> None:
    error = message.get("error")
    if error is not None:
        if not isinstance(error, dict):
            raise ValueError(f"malformed error reply: {error!r}")
        raise ServerError(str(error.get("code", "unknown")), str(error.get("message", "")))


def decode_reply(frame: bytes) -> PredictReply:
    """Parse a reply to a predict request; an error reply raises ``ServerError``."""
    message = load_object(frame, "reply")
    _raise_if_error(message)
    try:
        return PredictReply(
            predictions=[Prediction(**p) for p in message["predictions"]],
            weights=message.get("weights"),
            model=message.get("model"),
            timings=Timings(**message["timings"]) if message.get("timings") is not None else None,
            id=message.get("id"),
            batch=message.get("batch", 1),
            worker=message.get("worker"),
            runtime=message.get("runtime"),
            precision=message.get("precision"),
        )
    except (KeyError, TypeError) as error:
        raise ValueError(f"malformed reply from the model server: {error}") from None


def error_code_of(frame: bytes) -> str | None:
    """The code of an error reply; ``None`` for any other reply, or a frame that is not one."""
    try:
        _raise_if_error(load_object(frame, "reply"))
    except ServerError as error:
        return error.code
    except (RequestError, ValueError):
        return None
    return None


def decode_server_info(frame: bytes) -> ServerInfo:
    message = load_object(frame, "reply")
    _raise_if_error(message)
    known = {"op", "model", "weights", "workers", "id", "worker", "runtime", "precision"}
    try:
        return ServerInfo(
            model=message["model"],
            weights=message["weights"],
            workers=message["workers"],
            id=message.get("id"),
            worker=message.get("worker"),
            runtime=message.get("runtime"),
            precision=message.get("precision"),
            extra={k: v for k, v in message.items() if k not in known},
        )
    except KeyError as error:
        raise ValueError(f"malformed ping reply from the model server: {error}") from None


@dataclass(frozen=True)
class WorkerStats:
    """One worker as the broker sees it: the in-process threads, or one remote worker process."""

    name: str
    #: ``LOCAL_WORKER`` (threads in the server's process) or ``REMOTE_WORKER`` (a worker process).
    kind: str
    #: Requests it may hold at once (its worker threads).
    capacity: int
    #: Requests it holds now.
    in_flight: int
    #: Seconds since the last heartbeat from a remote worker; ``None`` for local threads.
    last_heartbeat_s: float | None = None


@dataclass(frozen=True)
class ServerStats:
    """What ``{"op": "stats"}`` returns: the broker's own view, answered without a worker."""

    #: Requests waiting for a free worker, and requests a worker is answering.
    waiting: int
    in_flight: int
    max_queue: int
    workers: list[WorkerStats]
    #: Forward passes by their number of images, summed over every worker (``{size: count}``).
    batch_sizes: dict[int, int]
    #: Requests accepted (not counting stats requests), and replies sent for them.
    requests: int
    replies: int
    #: Error replies by their code (``busy``, ``deadline_exceeded`` and the workers' own).
    errors: dict[str, int]
    #: Remote workers forgotten after missing their heartbeats, and requests sent again.
    workers_lost: int
    retries: int
    uptime_s: float
    id: str | None = None
    #: Remote workers that joined so far, and worker replies dropped because their request had
    #: been answered already (its deadline passed, or it went to another worker after this one was
    #: lost); 0 from a server older than these fields.
    workers_joined: int = 0
    late_replies: int = 0

    @property
    def queue_depth(self) -> int:
        return self.waiting + self.in_flight


def encode_stats(stats: ServerStats) -> bytes:
    message = asdict(stats)
    message["op"] = "stats"
    message["batch_sizes"] = {str(size): count for size, count in stats.batch_sizes.items()}
    if stats.id is None:
        del message["id"]
    return json.dumps(message).encode()


def decode_stats(frame: bytes) -> ServerStats:
    """Parse a stats reply; an error reply raises ``ServerError``."""
    message = load_object(frame, "reply")
    _raise_if_error(message)
    try:
        return ServerStats(
            waiting=message["waiting"], in_flight=message["in_flight"],
            max_queue=message["max_queue"],
            workers=[WorkerStats(**worker) for worker in message["workers"]],
            batch_sizes={int(size): count for size, count in message["batch_sizes"].items()},
            requests=message["requests"], replies=message["replies"], errors=message["errors"],
            workers_lost=message["workers_lost"], retries=message["retries"],
            uptime_s=message["uptime_s"], id=message.get("id"),
            workers_joined=message.get("workers_joined", 0),
            late_replies=message.get("late_replies", 0),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"malformed stats reply from the model server: {error}") from None
