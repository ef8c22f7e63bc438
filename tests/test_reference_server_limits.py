"""The reference answer of notebook 04's server, where a thread per request meets its limit.

A thread per request, unbounded, is the original's design and its flaw: when no thread can be
started, the reference answers that request ``busy`` and keeps serving, instead of ending its loop
and going silent while its clients (the original's wait for ever) keep waiting.
"""

from __future__ import annotations

import json

import zmq

from fakes import ColourClassifier, free_address, red_image
from model_server.protocol import encode_original_request
from solutions import resnet_model_server as reference

REPLY_TIMEOUT_S = 30


def ask(address: str, frame: bytes) -> dict:
    socket = zmq.Context.instance().socket(zmq.REQ)
    socket.linger = 0
    socket.connect(address)
    try:
        socket.send(frame)
        assert socket.poll(REPLY_TIMEOUT_S * 1000), f"no reply within {REPLY_TIMEOUT_S} s"
        return json.loads(socket.recv())
    finally:
        socket.close()


def test_a_request_that_gets_no_thread_is_answered_busy_and_the_server_goes_on(monkeypatch):
    started = reference.RequestHandler.start
    refusals = iter([True])

    def start_unless_refused(handler):
        if next(refusals, False):
            raise RuntimeError("can't start new thread")
        started(handler)

    monkeypatch.setattr(reference.RequestHandler, "start", start_unless_refused)
    with reference.Server(free_address(), ColourClassifier(0.0)) as server:
        refused = ask(server.address, encode_original_request(red_image(10), "r1"))
        assert refused["error"]["code"] == "busy" and refused["preds"].startswith("error: busy")
        assert refused["_rid"] == "r1"
        answered = ask(server.address, encode_original_request(red_image(20), "r2"))
        assert "error" not in answered and answered["_rid"] == "r2", answered
    assert all(not handler.is_alive() for handler in server.handlers)
