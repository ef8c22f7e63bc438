"""Long measurements show a bar in a notebook or when asked, and stay quiet otherwise."""

from __future__ import annotations

from lab.nb02_monolith import request_times
from lab.show.progress import in_notebook, measuring


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
    monkeypatch.setattr(request_times, "run_cold_start", lambda path, weights, timeout: path)
    runs = request_times.through_cold_processes(["a.jpg", "b.jpg"], 3, "random", 1.0, progress=True)
    assert runs == ["a.jpg", "b.jpg", "a.jpg"]
    assert "measuring 3 cold processes" in capsys.readouterr().err
