"""Long measurements show a bar in a notebook or when asked, and stay quiet otherwise."""

from __future__ import annotations

from lab import measure
from lab.progress import in_notebook, measuring


def test_outside_a_notebook_there_is_no_bar(capsys):
    assert not in_notebook()
    assert list(measuring(range(3), "three things", 3)) == [0, 1, 2]
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""


def test_asked_for_the_bar_says_what_is_measured_and_how_far_it_got(capsys):
    assert list(measuring(range(3), "three things", 3, progress=True)) == [0, 1, 2]
    err = capsys.readouterr().err
    assert "measuring three things" in err and "0/3" in err, "the bar shows the total to do"


def test_cold_processes_show_a_bar_when_asked(monkeypatch, capsys):
    monkeypatch.setattr(measure, "run_cold_start", lambda path, weights, timeout: path)
    runs = measure.through_cold_processes(["a.jpg", "b.jpg"], 3, "random", 1.0, progress=True)
    assert runs == ["a.jpg", "b.jpg", "a.jpg"]
    assert "measuring 3 cold processes" in capsys.readouterr().err


def test_requests_to_the_model_server_show_a_bar_when_asked(monkeypatch, capsys, tmp_path):
    class InstantClient:
        def __init__(self, address, timeout):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def predict(self, image):
            return image

    image = tmp_path / "a.jpg"
    image.write_bytes(b"jpeg")
    monkeypatch.setattr(measure, "ModelClient", InstantClient)
    timed = measure.through_model_server("tcp://127.0.0.1:1", [image], 4, 1.0, progress=True)
    assert [request.reply for request in timed] == [b"jpeg"] * 4
    assert "measuring 4 requests to the model server" in capsys.readouterr().err
