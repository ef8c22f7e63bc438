"""The wire format: what a request and a reply look like, and every way a request can be wrong;
and the broker↔worker framing."""

from __future__ import annotations

import base64
import json
import os
import socket

import pytest

from model_server import protocol
from model_server.protocol import (
    ErrorCode,
    PingRequest,
    Prediction,
    PredictReply,
    PredictRequest,
    RequestError,
    ServerError,
    ServerInfo,
    Timings,
    decode_reply,
    decode_request,
    decode_server_info,
    encode_error,
    encode_ping,
    encode_reply,
    encode_request,
    encode_server_info,
    request_id_of,
)
from model_server.serving import framing
from refusals import assert_refused

IMAGE = b"\xff\xd8\xff\xe0 not really a jpeg, but bytes are bytes \x00\x01\x02"


def frame(**fields) -> bytes:
    return json.dumps(fields).encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_request_round_trips_image_top_and_id():
    request = decode_request(encode_request(IMAGE, top=7, request_id="abc"))
    assert request == PredictRequest(image=IMAGE, top=7, id="abc")


def test_our_request_with_only_an_image_gets_default_top_and_no_id():
    """The least of our requests: ``{"image": base64}`` and nothing else."""
    request = decode_request(json.dumps({"image": b64(IMAGE)}).encode())
    assert request == PredictRequest(image=IMAGE, top=3, id=None)


def test_request_on_the_wire_is_json_with_base64_image():
    message = json.loads(encode_request(IMAGE, top=2, request_id="r1"))
    assert message == {"image": b64(IMAGE), "top": 2, "id": "r1"}


def test_ping_round_trips():
    assert decode_request(encode_ping("p1")) == PingRequest(id="p1")
    assert decode_request(encode_ping()) == PingRequest(id=None)


def test_reply_round_trips():
    reply = PredictReply(
        predictions=[
            Prediction("golden retriever", "n02099601", 0.75),
            Prediction("tench", "n01440764", 0.25),
        ],
        weights="untrained",
        model="resnet50",
        timings=Timings(decode=1.5, preprocess=0.25, inference=40.0, total=42.0),
        id="xyz",
    )
    assert decode_reply(encode_reply(reply)) == reply


def test_a_reply_with_only_predictions_is_read_with_the_rest_left_none():
    """A small server (the learner's, say) may send the predictions and the id only."""
    frame = json.dumps({"predictions": [{"label": "tench", "wnid": "n01440764", "probability": 1.0}],
                        "id": "a1"}).encode()
    reply = decode_reply(frame)
    assert reply == PredictReply([Prediction("tench", "n01440764", 1.0)], id="a1")
    assert (reply.weights, reply.model, reply.timings) == (None, None, None)


@pytest.mark.parametrize("message", [{"id": "a1"}, {"predictions": [{"label": "tench"}]},
                                     {"predictions": [], "timings": {"decode": 1.0}}])
def test_a_reply_without_readable_predictions_or_timings_is_malformed(message):
    with pytest.raises(ValueError, match="malformed reply"):
        decode_reply(json.dumps(message).encode())


def test_reply_on_the_wire_has_the_documented_fields():
    reply = PredictReply([Prediction("tench", "n01440764", 1.0)], "imagenet", "resnet50",
                         Timings(1.0, 2.0, 3.0, 6.0))
    message = json.loads(encode_reply(reply))
    assert message == {
        "predictions": [{"label": "tench", "wnid": "n01440764", "probability": 1.0}],
        "weights": "imagenet",
        "model": "resnet50",
        "timings": {"decode": 1.0, "preprocess": 2.0, "inference": 3.0, "total": 6.0, "queue": 0.0},
        "batch": 1,
    }
    assert "id" not in message and "worker" not in message


def test_server_info_round_trips_with_extra_fields():
    info = ServerInfo(model="resnet50", weights="untrained", workers=2, id="p",
                      extra={"version": "1"})
    assert json.loads(encode_server_info(info))["op"] == "pong"
    assert decode_server_info(encode_server_info(info)) == info


def test_error_reply_raises_server_error_with_code_and_message():
    error_frame = encode_error(ErrorCode.NOT_AN_IMAGE, "that is a shopping list", "id-9")
    assert json.loads(error_frame) == {
        "error": {"code": "not_an_image", "message": "that is a shopping list"}, "id": "id-9",
    }
    with pytest.raises(ServerError) as caught:
        decode_reply(error_frame)
    assert (caught.value.code, caught.value.message) == ("not_an_image", "that is a shopping list")


BAD_REQUESTS = [
    pytest.param(b"{not json", ErrorCode.BAD_JSON, "not valid JSON", id="bad-json"),
    pytest.param(b"\xff\xfe\x00garbage", ErrorCode.BAD_JSON, "not valid JSON", id="not-utf8"),
    pytest.param(b"", ErrorCode.BAD_JSON, "not valid JSON", id="empty-frame"),
    pytest.param(b'["image", "abc"]', ErrorCode.BAD_JSON, "must be a JSON object", id="array"),
    pytest.param(b'"just a string"', ErrorCode.BAD_JSON, "must be a JSON object", id="string"),
    pytest.param(frame(top=3), ErrorCode.BAD_REQUEST, 'no "image" field', id="missing-image"),
    pytest.param(frame(image=None), ErrorCode.BAD_REQUEST, 'no "image" field', id="null-image"),
    pytest.param(frame(image=[1, 2]), ErrorCode.BAD_REQUEST, "base64 string", id="image-not-str"),
    pytest.param(frame(image="not base64!!"), ErrorCode.BAD_BASE64, "not valid base64",
                 id="bad-base64"),
    pytest.param(frame(image="abc"), ErrorCode.BAD_BASE64, "not valid base64", id="bad-padding"),
    pytest.param(frame(image=""), ErrorCode.EMPTY_IMAGE, "empty", id="empty-image"),
    pytest.param(frame(image=b64(IMAGE), top=True), ErrorCode.BAD_REQUEST, '"top"', id="top-bool"),
    pytest.param(frame(image=b64(IMAGE), top=0), ErrorCode.BAD_REQUEST, '"top"', id="top-0"),
    pytest.param(frame(image=b64(IMAGE), top=1001), ErrorCode.BAD_REQUEST, '"top"', id="top-1001"),
    pytest.param(frame(image=b64(IMAGE), top=-3), ErrorCode.BAD_REQUEST, '"top"', id="top-negative"),
    pytest.param(frame(image=b64(IMAGE), top=2.5), ErrorCode.BAD_REQUEST, '"top"', id="top-float"),
    pytest.param(frame(image=b64(IMAGE), top="3"), ErrorCode.BAD_REQUEST, '"top"', id="top-string"),
    pytest.param(frame(image=b64(IMAGE), op="train"), ErrorCode.BAD_REQUEST, 'unknown "op"',
                 id="unknown-op"),
    pytest.param(frame(image=b64(IMAGE), id=42), ErrorCode.BAD_REQUEST, '"id" must be a string',
                 id="id-not-str"),
    pytest.param(frame(image=b64(IMAGE), id="x" * (protocol.MAX_ID_LENGTH + 1)), ErrorCode.BAD_REQUEST,
                 f'the limit is {protocol.MAX_ID_LENGTH}', id="id-too-long"),
    pytest.param(frame(op="ping", id="x" * (protocol.MAX_ID_LENGTH + 1)), ErrorCode.BAD_REQUEST,
                 f'the limit is {protocol.MAX_ID_LENGTH}', id="ping-id-too-long"),
    pytest.param(frame(image=b64(IMAGE), deadline_ms=0), ErrorCode.BAD_REQUEST, '"deadline_ms"',
                 id="deadline-0"),
    pytest.param(frame(image=b64(IMAGE), deadline_ms="soon"), ErrorCode.BAD_REQUEST, '"deadline_ms"',
                 id="deadline-string"),
    pytest.param(frame(image=b64(IMAGE), deadline_ms=True), ErrorCode.BAD_REQUEST, '"deadline_ms"',
                 id="deadline-bool"),
    pytest.param(b'{"image": "' + b64(IMAGE).encode() + b'", "deadline_ms": Infinity}',
                 ErrorCode.BAD_REQUEST, '"deadline_ms"', id="deadline-infinite"),
]


@pytest.mark.parametrize(("request_frame", "code", "message"), BAD_REQUESTS)
def test_bad_request_is_refused_with_its_specific_code(request_frame, code, message):
    assert_refused(decode_request, request_frame, code, message)


@pytest.mark.parametrize("top", [1, 3, 1000])
def test_top_accepts_whole_numbers_from_1_to_1000(top):
    assert decode_request(frame(image=b64(IMAGE), top=top)).top == top


def test_error_code_values_are_the_documented_spellings():
    in_server_replies = {
        "bad_json", "bad_request", "bad_base64", "empty_image", "not_an_image",
        "unreadable_image", "image_too_large", "decode_timeout", "internal", "busy",
        "deadline_exceeded", "worker_lost", "stopping",
    }
    raised_by_the_client = {"unavailable", "refused", "timeout", "mismatched_reply"}
    assert {code.value for code in ErrorCode} == in_server_replies | raised_by_the_client


@pytest.mark.parametrize(
    ("request_frame", "expected"),
    [
        (frame(image="???", id="keep-me"), "keep-me"),
        (frame(op="nonsense", id="and-me"), "and-me"),
        (frame(id=7), None),
        (frame(image="???", id="x" * protocol.MAX_ID_LENGTH), "x" * protocol.MAX_ID_LENGTH),
        (frame(image="???", id="x" * (protocol.MAX_ID_LENGTH + 1)), None),
        (b"[1, 2]", None),
        (b"{broken", None),
    ],
)
def test_error_replies_echo_the_request_id_when_it_can_be_read(request_frame, expected):
    assert request_id_of(request_frame) == expected


def test_the_broker_reads_no_id_longer_than_the_limit():
    """The broker echoes it in busy and deadline_exceeded replies, which no worker checks."""
    assert protocol.read_header(frame(id="x" * (protocol.MAX_ID_LENGTH + 1))).id is None
    assert protocol.read_header(frame(id="short")).id == "short"


def test_one_module_names_the_default_address():
    assert protocol.DEFAULT_ADDRESS == "tcp://127.0.0.1:5576"


def test_runtime_and_precision_travel_in_replies_and_pings():
    reply = PredictReply([Prediction("tench", "n01440764", 1.0)], "untrained", "resnet50",
                         Timings(1.0, 2.0, 3.0, 6.0), runtime="openvino", precision="f32")
    message = json.loads(encode_reply(reply))
    assert (message["runtime"], message["precision"]) == ("openvino", "f32")
    assert decode_reply(encode_reply(reply)) == reply
    info = ServerInfo(model="resnet50", weights="untrained", workers=2, runtime="openvino", precision="bf16")
    assert decode_server_info(encode_server_info(info)) == info
    assert decode_server_info(encode_server_info(info)).extra == {}


def test_replies_of_older_servers_without_runtime_still_decode():
    old = {"predictions": [{"label": "tench", "wnid": "n01440764", "probability": 1.0}],
           "weights": "imagenet", "model": "resnet50",
           "timings": {"decode": 1.0, "preprocess": 2.0, "inference": 3.0, "total": 6.0}}
    reply = decode_reply(json.dumps(old).encode())
    assert (reply.runtime, reply.precision) == (None, None)
    info = decode_server_info(json.dumps({"op": "pong", "model": "resnet50", "weights": "imagenet",
                                          "workers": 1}).encode())
    assert (info.runtime, info.precision) == (None, None)


def test_request_carries_its_deadline_in_both_forms():
    header, image = protocol.encode_request_frames(IMAGE, request_id="d", deadline_ms=1500)
    assert decode_request(header, image).deadline_ms == 1500
    assert decode_request(encode_request(IMAGE, deadline_ms=250.5)).deadline_ms == 250.5
    assert decode_request(encode_request(IMAGE)).deadline_ms is None


@pytest.mark.parametrize(
    ("request_frame", "expected"),
    [
        (frame(op="stats", id="s"), protocol.RequestHeader("stats", "s", None)),
        (frame(image="…", deadline_ms=900), protocol.RequestHeader("predict", None, 900.0)),
        (frame(op=3, id=4, deadline_ms=-1), protocol.RequestHeader()),
        (b'{"deadline_ms": Infinity}', protocol.RequestHeader()),
        (b"{broken", protocol.RequestHeader()),
        (b"[1]", protocol.RequestHeader()),
    ],
)
def test_the_broker_reads_what_it_can_of_a_header_and_never_raises(request_frame, expected):
    assert protocol.read_header(request_frame) == expected


def test_stats_round_trip():
    stats = protocol.ServerStats(
        waiting=2, in_flight=3, max_queue=64,
        workers=[protocol.WorkerStats("h:1 (threads)", "local", 8, 3),
                 protocol.WorkerStats("h:2", "remote", 2, 0, last_heartbeat_s=0.4)],
        batch_sizes={1: 5, 8: 2}, requests=30, replies=25, errors={"busy": 1},
        workers_lost=1, retries=2, uptime_s=12.5, id="x", workers_joined=3, late_replies=4,
    )
    assert protocol.decode_stats(protocol.encode_stats(stats)) == stats
    older_server = json.loads(protocol.encode_stats(stats))
    del older_server["late_replies"], older_server["workers_joined"]
    older = protocol.decode_stats(json.dumps(older_server).encode())
    assert (older.late_replies, older.workers_joined) == (0, 0)
    assert stats.queue_depth == 5
    assert decode_request(protocol.encode_stats_request("x")) == protocol.StatsRequest(id="x")


def test_a_worker_hello_names_a_capacity_of_at_least_one():
    hello = framing.WorkerHello("h:9", 2, {1: 3})
    assert framing.decode_worker_hello(framing.encode_worker_hello(hello)) == hello
    with pytest.raises(ValueError, match="capacity"):
        framing.decode_worker_hello(frame(worker="h:9", capacity=0))
    with pytest.raises(ValueError, match="not valid JSON"):
        framing.decode_worker_hello(b"READY?")


def test_a_worker_is_named_by_host_and_process_id_and_the_name_parses_back():
    assert protocol.worker_name("gpu1", 999) == "gpu1:999"
    assert protocol.parse_worker_name("gpu1:999") == ("gpu1", 999)
    assert protocol.parse_worker_name(protocol.worker_name()) == (socket.gethostname(), os.getpid())
    assert protocol.parse_worker_name("h:12" + protocol.LOCAL_THREADS_SUFFIX) == ("h", 12)
    with pytest.raises(ValueError):
        protocol.parse_worker_name("(not named)")


def test_the_error_code_of_a_reply_is_read_by_the_protocol():
    assert protocol.error_code_of(encode_error(ErrorCode.BUSY, "later", "x")) == "busy"
    reply = PredictReply([Prediction("cat", "n1", 0.9)], "untrained", "resnet50",
                         Timings(1, 1, 1, 3), "x")
    assert protocol.error_code_of(encode_reply(reply)) is None
    assert protocol.error_code_of(b"not json") is None
    assert protocol.error_code_of(b'{"error": "no dict"}') is None


# The broker's reading of a big request of one base64 frame ------------------------------------------

#: An image whose base64 makes a frame larger than the broker parses whole.
BIG_B64 = b64(bytes(range(256)) * 400)
assert len(BIG_B64) > protocol.WHOLE_HEADER_BYTES


@pytest.mark.parametrize(
    "request_frame",
    [
        frame(image=BIG_B64, id="a", deadline_ms=500),
        frame(id="a", top=5, deadline_ms=500, image=BIG_B64),
        ('{ "id" : "a" ,\n "image"  :\t "' + BIG_B64 + '" , "deadline_ms":500 }').encode(),
        frame(note='"image":"', id="a", image=BIG_B64, deadline_ms=500),
        frame(note='say "image": "AAAA" here', image=BIG_B64, id="a", deadline_ms=500),
    ],
    ids=["image first", "image last", "whitespace", "key inside a string", "quoted key inside a string"],
)
def test_the_broker_reads_the_header_of_a_big_base64_request(request_frame):
    assert len(request_frame) > protocol.WHOLE_HEADER_BYTES
    assert protocol.read_header(request_frame) == protocol.RequestHeader("predict", "a", 500.0)


def test_escaped_characters_in_other_fields_survive_the_cut():
    request_id = 'q"u\\o\te \u00e9 \U0001F600 "image": "'
    header = protocol.read_header(frame(id=request_id, image=BIG_B64, op="predict"))
    assert header == protocol.RequestHeader("predict", request_id, None)
    header = protocol.read_header(json.dumps({"image": BIG_B64, "id": request_id}, ensure_ascii=False).encode())
    assert header.id == request_id


@pytest.mark.parametrize(
    "request_frame",
    [
        frame(id="a", deadline_ms=500, data=BIG_B64),
        frame(id="a", meta={"image": "small"}, image=BIG_B64),
        frame(id="a", image=BIG_B64[:1000] + '"' + BIG_B64),
        frame(id="a", padding="x" * protocol.WHOLE_HEADER_BYTES, image=BIG_B64),
        frame(id="a", image=BIG_B64, padding="x" * protocol.WHOLE_HEADER_BYTES),
        frame(id="a", image=BIG_B64, bad=float("nan"), deadline_ms=500)[:-1] + b", }",
        ("[" + json.dumps({"id": "a", "image": BIG_B64}) + "]").encode(),
        frame(id="\udcff", image=BIG_B64).replace(b"\\udcff", b"\xff"),
        frame(id="a", image=[BIG_B64]),
    ],
    ids=["no image key", "image key nested first", "escaped quote in the image", "long before",
         "long after", "broken after the image", "not an object", "non-UTF-8 id", "image not a string"],
)
def test_a_big_request_the_broker_cannot_cut_reads_as_malformed(request_frame):
    """Not parsed whole on the broker's thread: the worker's ``decode_request`` says what is wrong."""
    assert len(request_frame) > protocol.WHOLE_HEADER_BYTES
    assert protocol.read_header(request_frame) == protocol.RequestHeader()


def test_the_broker_parses_only_the_small_json_around_a_big_image(monkeypatch):
    parsed = []
    real_loads = json.loads
    monkeypatch.setattr(protocol.json, "loads", lambda text: parsed.append(len(text)) or real_loads(text))
    request_frame = protocol.encode_request(bytes(4 * 2**20), request_id="big", deadline_ms=900)
    assert protocol.read_header(request_frame) == protocol.RequestHeader("predict", "big", 900.0)
    assert parsed and max(parsed) < 200


def test_a_fault_inside_a_big_image_is_left_to_the_worker():
    """The broker reads the header round it; the worker parses the whole request and refuses it."""
    request_frame = frame(id="a", image=BIG_B64).replace(b"AAEC", b"\xff\xfe\\q", 1)
    assert protocol.read_header(request_frame).id == "a"
    with pytest.raises(RequestError) as refused:
        decode_request(request_frame)
    assert refused.value.code == ErrorCode.BAD_JSON


def test_the_two_frame_form_reads_as_before():
    header, image = protocol.encode_request_frames(bytes(4 * 2**20), request_id="two", deadline_ms=700)
    assert protocol.read_header(header) == protocol.RequestHeader("predict", "two", 700.0)
    assert decode_request(header, image).id == "two"


# Decoded pixels on the wire ----------------------------------------------------------------------

PIXELS = bytes(range(256)) * (protocol.PIXELS_BYTES // 256) + bytes(protocol.PIXELS_BYTES % 256)


def pixels_header(**pixels) -> bytes:
    return frame(id="p", pixels={"shape": [224, 224, 3], "dtype": "uint8", **pixels})


def test_a_pixels_request_carries_the_pixels_as_they_are():
    header, pixels = protocol.encode_pixels_request_frames(PIXELS, top=5, request_id="p", deadline_ms=300)
    request = decode_request(header, pixels)
    assert request == PredictRequest(image=b"", top=5, id="p", deadline_ms=300, pixels=PIXELS)
    assert protocol.read_header(header) == protocol.RequestHeader("predict", "p", 300.0)


@pytest.mark.parametrize(
    ("header", "pixels", "says"),
    [
        (pixels_header(shape=[224, 224]), PIXELS, "shape is [224, 224]"),
        (pixels_header(shape=[3, 224, 224]), PIXELS, "shape is [3, 224, 224]"),
        (pixels_header(shape=[224, 224, 3.0]), PIXELS, "shape is [224, 224, 3.0]"),
        (pixels_header(shape=[224, 224, True]), PIXELS, "shape is [224, 224, True]"),
        (pixels_header(shape="224x224x3"), PIXELS, "shape is '224x224x3'"),
        (pixels_header(dtype="float32"), PIXELS, "dtype is 'float32'"),
        (pixels_header(dtype=None), PIXELS, "dtype is None"),
        (pixels_header(), PIXELS[:-1], f"is {protocol.PIXELS_BYTES - 1} bytes"),
        (pixels_header(), PIXELS + b"\0", f"is {protocol.PIXELS_BYTES + 1} bytes"),
        (pixels_header(), None, "it had none"),
        (pixels_header(order="BGR"), PIXELS, '"pixels" must be {"shape": [224, 224, 3], "dtype": "uint8"}'),
        (frame(id="p", pixels=[224, 224, 3]), PIXELS, '"pixels" must be'),
        (frame(id="p", pixels=None), PIXELS, '"pixels" must be'),
        (frame(id="p", image=b64(IMAGE), pixels={"shape": [224, 224, 3], "dtype": "uint8"}), PIXELS,
         'either as "pixels" or as "image"'),
    ],
)
def test_pixels_that_are_not_exactly_what_the_model_takes_are_refused(header, pixels, says):
    with pytest.raises(RequestError) as refused:
        decode_request(header, pixels)
    assert refused.value.code == ErrorCode.BAD_REQUEST
    assert says in refused.value.message


# The original write-up's dialect: "payload" and "_rid" in, "preds" out --------------------------

def test_the_originals_request_is_read_with_its_rid_as_the_id():
    request = decode_request(protocol.encode_original_request(IMAGE, "3f2a-uuid"))
    assert request == PredictRequest(image=IMAGE, top=3, id="3f2a-uuid", original=True)
    assert json.loads(protocol.encode_original_request(IMAGE, "r")) == {"payload": b64(IMAGE), "_rid": "r"}


def test_a_request_without_rid_is_still_the_originals_if_it_has_a_payload():
    assert decode_request(frame(payload=b64(IMAGE))) == PredictRequest(image=IMAGE, original=True)


def test_the_originals_preds_is_the_top_three_rounded_to_five_places_in_one_string():
    reply = PredictReply([Prediction("tabby", "n02123045", 0.123456789), Prediction("tiger cat", "n02123159", 0.0678),
                          Prediction("lynx", "n02127052", 0.0000123), Prediction("tench", "n01440764", 0.00001)],
                         id="r-1")
    message = json.loads(encode_reply(reply, original=True))
    assert message["preds"] == "tabby : 0.12346, tiger cat : 0.0678, lynx : 1e-05"
    assert message["_rid"] == "r-1" and "id" not in message
    assert len(message["predictions"]) == 4, "our own fields ride along"
    assert protocol.decode_original_reply(encode_reply(reply, original=True)) == message["preds"]


def test_our_reply_has_no_preds():
    reply = PredictReply([Prediction("tabby", "n02123045", 1.0)], id="r-1")
    assert "preds" not in json.loads(encode_reply(reply))


@pytest.mark.parametrize(
    "request_frame, code, says",
    [
        (frame(_rid="r"), ErrorCode.BAD_REQUEST, 'no "payload" field'),
        (frame(payload="not base64!", _rid="r"), ErrorCode.BAD_BASE64, '"payload" is not valid base64'),
        (frame(payload=b64(IMAGE), image=b64(IMAGE), _rid="r"), ErrorCode.BAD_REQUEST, 'names its image "payload"'),
        (frame(payload=b64(IMAGE), id="x", _rid="r"), ErrorCode.BAD_REQUEST, 'names its id "_rid"'),
        (frame(payload=7, _rid="r"), ErrorCode.BAD_REQUEST, '"payload" must be a base64 string'),
        (frame(payload="", _rid="r"), ErrorCode.EMPTY_IMAGE, "empty"),
    ],
)
def test_a_bad_original_request_says_what_is_wrong_in_its_own_words(request_frame, code, says):
    with pytest.raises(RequestError) as refused:
        decode_request(request_frame)
    assert refused.value.code == code and says in refused.value.message


@pytest.mark.parametrize(
    "request_frame, rid",
    [
        (frame(_rid="r9"), "r9"),
        (frame(payload="!!", _rid="r9"), "r9"),
        (b'{"payload": "AAAA", "_rid": ', None),
        (b'{"payload": "' + BIG_B64.encode() + b'", "_rid": "big"}', "big"),
        (b'{"payload": "' + BIG_B64.encode() + b'" "_rid": "big"}', None),
    ],
    ids=["no payload", "bad base64", "cut short", "big", "big and not JSON"],
)
def test_an_error_reply_to_the_originals_request_carries_preds_for_its_client(request_frame, rid):
    """The original's client reads ``reply["preds"]`` and nothing else: an error without it
    would crash it (KeyError) instead of showing what went wrong."""
    message = json.loads(protocol.error_reply_for(request_frame, ErrorCode.BAD_REQUEST, "what went wrong"))
    assert message["preds"] == "error: bad_request: what went wrong"
    assert message["error"] == {"code": "bad_request", "message": "what went wrong"}
    assert message.get("_rid") == rid and "id" not in message
    with pytest.raises(ServerError, match="what went wrong"):
        protocol.decode_original_reply(json.dumps(message).encode())


def test_an_error_reply_to_our_request_has_no_preds():
    message = json.loads(protocol.error_reply_for(frame(id="a", image="!!"), ErrorCode.BAD_BASE64, "no"))
    assert message == {"error": {"code": "bad_base64", "message": "no"}, "id": "a"}


def test_the_broker_reads_the_header_of_a_big_original_request():
    request_frame = frame(payload=BIG_B64, _rid="a", deadline_ms=500)
    assert len(request_frame) > protocol.WHOLE_HEADER_BYTES
    assert protocol.read_header(request_frame) == protocol.RequestHeader("predict", "a", 500.0, original=True)
