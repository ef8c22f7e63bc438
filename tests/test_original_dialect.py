"""The production model server speaks the original write-up's dialect too.

The original's client is a DEALER with a uuid of its own as its identity; it sends one frame,
``{"payload": base64, "_rid": uuid}``, with no empty delimiter, and reads ``reply["preds"]``. These
tests play that client (and a REQ client sending the same JSON) against the session's real model
server, the one the web app is built against.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid

import pytest
import zmq

from harness.sample_images import photo
from model_server.protocol import ORIGINAL_TOP, encode_original_request

#: Seconds a client waits for a reply before the test fails (the original's client waits forever).
REPLY_TIMEOUT_S = 60
#: One entry of the original's ``"preds"``: ``label : probability``.
PRED = re.compile(r"(?P<label>[^,]+?) : (?P<probability>[0-9.e-]+)")


def original_client(context: zmq.Context, address: str) -> tuple[zmq.Socket, str]:
    """A DEALER socket whose identity is a fresh uuid, as the original's client makes it."""
    rid = str(uuid.uuid4())
    socket = context.socket(zmq.DEALER)
    socket.linger = 0
    socket.setsockopt(zmq.IDENTITY, rid.encode())
    socket.connect(address)
    return socket, rid


def reply_to(socket: zmq.Socket) -> dict:
    assert socket.poll(REPLY_TIMEOUT_S * 1000), f"no reply within {REPLY_TIMEOUT_S} s"
    [frame] = socket.recv_multipart()
    return json.loads(frame)


def preds_entries(preds: str) -> list[tuple[str, float]]:
    entries = preds.split(", ")
    matches = [PRED.fullmatch(entry) for entry in entries]
    assert all(matches), f"not 'label : probability' entries: {preds!r}"
    return [(m["label"], float(m["probability"])) for m in matches]


@pytest.fixture
def context():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def assert_original_reply(reply: dict, rid: str) -> None:
    entries = preds_entries(reply["preds"])
    assert len(entries) == ORIGINAL_TOP
    ours = reply["predictions"][:ORIGINAL_TOP]
    assert entries == [(p["label"], round(p["probability"], 5)) for p in ours]
    assert reply["_rid"] == rid


def test_the_originals_dealer_client_gets_preds(context, app):
    """A client written as the original's, sent to the model server that the web app uses."""
    socket, rid = original_client(context, app.config["MODEL_SERVER_ADDRESS"])
    socket.send(encode_original_request(photo(), rid))
    assert_original_reply(reply_to(socket), rid)


def test_a_req_client_sending_the_originals_json_gets_preds(context, model_server):
    socket = context.socket(zmq.REQ)
    socket.linger = 0
    socket.connect(model_server.address)
    socket.send(encode_original_request(photo(format="PNG"), "req-1"))
    assert_original_reply(reply_to(socket), "req-1")


@pytest.mark.parametrize(
    "request_frame, code",
    [
        (json.dumps({"_rid": "r"}).encode(), "bad_request"),
        (json.dumps({"payload": "this is not base64!", "_rid": "r"}).encode(), "bad_base64"),
        (encode_original_request(b"a shopping list, not a picture", "r"), "not_an_image"),
    ],
    ids=["no payload", "bad base64", "not an image"],
)
def test_a_bad_original_request_gets_preds_saying_why_and_the_server_goes_on(context, model_server,
                                                                          request_frame, code):
    socket, rid = original_client(context, model_server.address)
    socket.send(request_frame)
    reply = reply_to(socket)
    assert reply["error"]["code"] == code
    assert reply["preds"] == f"error: {code}: {reply['error']['message']}"
    assert reply["_rid"] == "r"
    socket.send(encode_original_request(photo(seed=3), rid))
    assert_original_reply(reply_to(socket), rid)


def test_the_brokers_own_errors_carry_preds_too(context, model_server):
    """A deadline that has passed on arrival is answered by the broker, not by a worker."""
    socket, rid = original_client(context, model_server.address)
    message = json.loads(encode_original_request(photo(), rid))
    socket.send(json.dumps({**message, "deadline_ms": 0.001}).encode())
    reply = reply_to(socket)
    assert reply["error"]["code"] == "deadline_exceeded"
    assert reply["preds"].startswith("error: deadline_exceeded: ") and reply["_rid"] == rid


def test_sixteen_concurrent_original_clients_each_get_their_own_answer(context, model_server):
    clients = [original_client(context, model_server.address) for _ in range(16)]
    images = [photo(seed=seed) for seed in range(len(clients))]
    replies: dict[str, dict] = {}

    def ask(socket: zmq.Socket, rid: str, image: bytes) -> None:
        socket.send(encode_original_request(image, rid))
        replies[rid] = reply_to(socket)
        assert not socket.poll(200), "a second reply reached this client"

    threads = [threading.Thread(target=ask, args=(socket, rid, image))
               for (socket, rid), image in zip(clients, images)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(REPLY_TIMEOUT_S * 2)
    assert sorted(replies) == sorted(rid for _, rid in clients)
    for rid, reply in replies.items():
        assert_original_reply(reply, rid)


def test_the_payload_is_the_image_file_in_base64(context, model_server):
    """The same image sent in both dialects gets the same predictions."""
    image = photo(format="PNG", seed=5)
    socket, rid = original_client(context, model_server.address)
    socket.send(encode_original_request(image, rid))
    original = reply_to(socket)
    socket.send(json.dumps({"image": base64.b64encode(image).decode(), "id": "ours"}).encode())
    ours = reply_to(socket)
    assert "preds" not in ours and ours["id"] == "ours"
    assert [p["wnid"] for p in ours["predictions"]] == [p["wnid"] for p in original["predictions"]]
