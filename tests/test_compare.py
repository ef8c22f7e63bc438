"""``lab.compare``: notebook 07's numbers come from the learner's functions, checked against the lab's."""

from __future__ import annotations

import pytest

from lab import answers, compare, timing
from solutions import nb07_compare as reference

SUMMARIES = [timing.summarise("monolith", [10.0, 12.0, 11.0]), timing.summarise("app", [0.2, 0.25, 0.3])]
REFERENCE = compare.Arithmetic(reference.median, reference.speed_up)


def test_the_table_and_speed_up_use_the_functions_given() -> None:
    calls = []

    def median(samples):
        calls.append(samples)
        return reference.median(samples)

    rows = compare.summary_rows(SUMMARIES, compare.Arithmetic(median, reference.speed_up))
    assert [row["median (s)"] for row in rows] == ["11.000", "0.250"]
    assert calls == [[10.0, 12.0, 11.0], [0.2, 0.25, 0.3]]
    (factor,) = compare.speed_ups({"vs the monolith": tuple(SUMMARIES)}, REFERENCE).values()
    assert factor == compare.Checked(pytest.approx(44.0)) and factor.problem is None


def test_a_wrong_answer_is_shown_beside_the_labs() -> None:
    mean = compare.Arithmetic(lambda s: sum(s) / len(s), lambda before, after: sum(before) / sum(after))
    row = compare.summary_rows([timing.summarise("skewed", [1.0, 1.0, 10.0])], mean)[0]
    assert row["median (s)"] == "1.000 (median gave 4.0, the lab 1; the lab's value shown)"
    slow_once = (timing.summarise("before", [10.0, 10.0, 100.0]), timing.summarise("after", [1.0, 1.0, 1.0]))
    (factor,) = compare.speed_ups({"x": slow_once}, mean).values()
    assert factor.value == pytest.approx(10.0) and "speed_up gave 40.0" in factor.problem


def test_the_untouched_stub_raises_and_the_lab_carries_on(monkeypatch) -> None:
    monkeypatch.setattr(answers, "whose", lambda module, *names, quiet=False: answers.LEARNER)
    stubs = compare.learners_arithmetic()
    row = compare.summary_rows(SUMMARIES[:1], stubs)[0]
    assert row["median (s)"].startswith("11.000 (median raised NotImplementedError: write median")


def test_until_written_the_reference_answers_compute_and_it_is_said(capsys) -> None:
    arithmetic = compare.learners_arithmetic()
    said = capsys.readouterr().out
    if answers.is_written(compare.MODULE, "median"):
        pytest.skip("exercises/nb07_compare.py has a written median in this checkout")
    assert "Not written yet in exercises/nb07_compare.py: median" in said
    assert arithmetic.median.__module__ == "solutions.nb07_compare"
