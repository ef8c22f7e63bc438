"""Notebook 04's ladder: each step's cell shows the learner's code at work, and its check cell
reports that step alone (``run_checks("nb04", "RequestHandler.reply_to")``).

The steps run the reference answers here, with a stand-in model (``fakes.ColourClassifier``); a
broken copy shows that a step's output tells what went wrong.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from pathlib import Path
from types import ModuleType

import pytest

from fakes import ColourClassifier, red_image
from harness.processes import REPO_ROOT
from lab.learner import answers, checks, stubs
from lab.nb04_model_server import steps

SOLUTIONS = REPO_ROOT / "solutions"


def module_from(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"steps_{path.parent.name}_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference() -> ModuleType:
    return module_from(SOLUTIONS / "resnet_model_server.py")


def request(red: int, request_id: str) -> bytes:
    import base64
    return json.dumps({"image": base64.b64encode(red_image(red)).decode(), "id": request_id}).encode()


def test_step_1_shows_the_envelope_and_the_replies(reference, capsys):
    steps.show_envelopes(reference.envelope_and_body)
    steps.show_replies(reference.RequestHandler, ColourClassifier(0.0),
                              [("a photo", request(7, "p-1")), ("not JSON", b"{nope")])
    out = capsys.readouterr().out
    assert "envelope [b'\\x00k\\x8bEg', b'']" in out and "body     [b'part 1', b'', b'part 2']" in out
    assert '"label": "red 7"' in out and '"id": "p-1"' in out and '"code": "bad_json"' in out


def test_step_2_shows_what_reaches_the_backend_and_that_the_socket_was_closed(reference, capsys):
    steps.one_handler(reference.RequestHandler, reference.BACKEND_ADDRESS, ColourClassifier(0.0),
                             [b"client-1", b""], [request(3, "p-3")])
    out = capsys.readouterr().out
    assert "the backend received [b'client-1', b'', b'{\"predictions\"" in out
    assert "the handler thread has ended" in out and "context.term() returned" in out


def test_step_2_says_when_a_handler_leaves_its_socket_open(reference, capsys, monkeypatch):
    monkeypatch.setattr(steps, "WAIT_S", 1.0)
    kept = []

    class KeepsItsSocket(reference.RequestHandler):
        def run(self) -> None:
            handler = self.context.socket(reference.zmq.DEALER)
            kept.append(handler)
            handler.connect(reference.BACKEND_ADDRESS)
            handler.send_multipart([*self.envelope, b"reply"])

    steps.one_handler(KeepsItsSocket, reference.BACKEND_ADDRESS, ColourClassifier(0.0), [b"c"], [b"r"])
    assert "a socket the handler opened is not closed" in capsys.readouterr().out
    kept[0].close(linger=0)  # the context's term() in its daemon thread then returns


def test_step_3_serves_one_request_and_frees_the_port(reference, capsys):
    steps.one_request(reference.Server, ColourClassifier(0.0), request(9, "p-9"))
    out = capsys.readouterr().out
    assert "the REQ received [b'{\"predictions\": [{\"label\": \"red 9\"" in out
    assert "'server-loop': 0, 'request-handler': 0}; the port is free again" in out
    assert not [t for t in threading.enumerate() if t.name == "server-loop"]


def test_step_4_shows_the_dropped_attempt_and_the_answered_one(reference, capsys):
    test_client = module_from(SOLUTIONS / "test_client.py")
    handler = reference.RequestHandler(None, [], [], ColourClassifier(0.0))
    steps.drops_the_first(test_client, handler.reply_to, red_image(4), timeout_s=0.3)
    out = capsys.readouterr().out
    assert ": dropped" in out and "attempt 2 reached the server" in out and ": answered" in out
    assert "red 4" in out


def test_a_method_is_written_or_not_on_its_own(tmp_path):
    (tmp_path / "nb99.py").write_text("class Handler:\n    def reply_to(self):\n        return 1\n\n"
                                      "    def run(self):\n        raise NotImplementedError('write run')\n")
    assert answers.unwritten("nb99", "Handler.reply_to", tmp_path) == []
    assert answers.unwritten("nb99", "Handler.run", tmp_path) == ["Handler.run"]
    assert answers.unwritten("nb99", "Gone.run", tmp_path) == ["Gone"], "a class not there is not written"


def test_a_method_step_is_reported_alone(tmp_path, capsys):
    """reply_to written, run still a stub: reply_to's check cell says done, run's says what to write."""
    stubs.copy_into(tmp_path)  # the stubs as shipped, whatever the checkout's exercises/ holds
    stub = (tmp_path / "resnet_model_server.py").read_text()
    solution = (SOLUTIONS / "resnet_model_server.py").read_text()

    def method(source: str, name: str) -> str:
        start = source.index(f"    def {name}(")
        return source[start:source.index("\n    def ", start + 1)]

    (tmp_path / "resnet_model_server.py").write_text(
        stub.replace(method(stub, "reply_to"), method(solution, "reply_to")))
    checks.run_checks("nb04", "RequestHandler.reply_to", answers=str(tmp_path))
    out = capsys.readouterr().out
    assert "  RequestHandler.reply_to  done" in out and "Server" not in out
    checks.run_checks("nb04", "RequestHandler.run", answers=str(tmp_path))
    out = capsys.readouterr().out
    assert "RequestHandler.run  0 of 3 checks pass" in out and "run is not written yet" in out
