"""``lab.nb07_compare_timings.compare``: notebook 07's numbers come from the learner's functions, checked
against the lab's."""

from __future__ import annotations

import pytest

from harness.processes import REPO_ROOT
from lab import latencies
from lab.learner import answers
from lab.learner import stubs as lab_stubs
from lab.nb07_compare_timings import compare
from solutions import nb07_compare as reference

SUMMARIES = [latencies.summarise("monolith", [10.0, 12.0, 11.0]), latencies.summarise("app", [0.2, 0.25, 0.3])]
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
    row = compare.summary_rows([latencies.summarise("skewed", [1.0, 1.0, 10.0])], mean)[0]
    assert row["median (s)"] == "1.000 (median gave 4.0, the lab 1; the lab's value shown)"
    slow_once = (latencies.summarise("before", [10.0, 10.0, 100.0]), latencies.summarise("after", [1.0, 1.0, 1.0]))
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
    if not answers.unwritten(compare.MODULE, "median"):
        pytest.skip("exercises/nb07_compare.py has a written median in this checkout")
    assert "Not written yet in exercises/nb07_compare.py: median" in said
    assert arithmetic.median.__module__ == "solutions.nb07_compare"


# --- notebook 07's rows: the learner's parts where written, and why not where not ---

def test_a_row_names_the_parts_not_written_yet_and_is_not_measured(tmp_path) -> None:
    stubs, written = tmp_path / "stubs", REPO_ROOT / answers.REFERENCE
    stubs.mkdir()
    for module in ("resnet_model_server", "app"):
        (stubs / f"{module}.py").write_text(lab_stubs.kept_stub(module) or "")  # as shipped
    (stubs / "app.py").write_text((written / "app.py").read_text())  # the app written, the server not
    why = compare.not_written(compare.SERVER, compare.APP, directory=stubs)
    assert why.startswith("not written yet: exercises/resnet_model_server.py envelope_and_body, ")
    assert "app.py" not in why
    assert compare.not_written(compare.SERVER, compare.APP, directory=written) is None
    way = compare.Way("yours", 3, 1, missing=why)
    with pytest.raises(RuntimeError, match="not written yet"), way.connected():
        pass


def test_the_table_keeps_every_row_in_order_and_says_why_one_was_not_measured() -> None:
    why = "not written yet: exercises/nb02_monolith.py handle_upload"
    ways = [compare.Way(compare.YOUR_MONOLITH, 2, 1, missing=why),
            compare.Way(compare.PRODUCTION_APP, 3, 1, call=print)]
    summaries = {compare.PRODUCTION_APP: latencies.summarise(compare.PRODUCTION_APP, [0.2, 0.25, 0.3])}
    rows = compare.table_rows(ways, summaries, REFERENCE)
    assert [row["way"] for row in rows] == [compare.YOUR_MONOLITH, compare.PRODUCTION_APP]
    assert rows[0]["median (s)"] == why
    assert rows[1]["median (s)"] == "0.250" and rows[1]["requests"] == 3


def test_a_speed_up_waits_for_both_its_rows_and_names_what_is_missing_once() -> None:
    missing = "not written yet: exercises/resnet_model_server.py Server.stop"
    ways = [compare.Way(compare.YOUR_APP, 3, 1, missing=missing + "; exercises/app.py uploader"),
            compare.Way(compare.YOUR_SERVER, 3, 1, missing=missing)]
    measured = {compare.YOUR_MONOLITH: [4.0, 5.0], compare.PRODUCTION_MONOLITH: [4.0],
                compare.PRODUCTION_APP: [0.1]}
    summaries = {label: latencies.summarise(label, seconds) for label, seconds in measured.items()}
    pairs, why_not = compare.speed_up_pairs(summaries, ways)
    assert list(pairs) == [label for label in compare.SPEED_UPS if label.startswith("production")]
    assert why_not[compare.YOUR_SPEED_UP] == missing + "; exercises/app.py uploader"
    cold = next(label for label in compare.SPEED_UPS if "cold" in label)
    assert why_not[cold] == missing + "; exercises/app.py uploader"


def test_the_handler_monolith_answers_with_the_learners_handler(tmp_path, monkeypatch) -> None:
    """``lab.monolith.handler_app`` calls ``<package>.nb02_monolith.handle_upload`` for each upload (a
    fake handler here: no TensorFlow) and shows its stages as the monolith's loading stages."""
    import io
    import sys

    package = tmp_path / "fake_answers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nb02_monolith.py").write_text(
        "from model_server.protocol import Prediction\n"
        "CALLS = []\n"
        "def handle_upload(image, weights_file, parts, top=3):\n"
        "    CALLS.append((image, weights_file, top))\n"
        "    return [Prediction('tabby', 'n02123045', 0.5)], {'import_tensorflow': 1.0, 'build_model': 2.0,\n"
        "        'load_weights': 3.0, 'decode_image': 0.1, 'predict': 4.0}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from lab.monolith import handler_app

    app = handler_app.create_app({"HANDLER_PACKAGE": "fake_answers", "WEIGHTS_FILE": "/w.h5",
                                       "WEIGHTS_LABEL": "random (untrained, seed 0)", "TESTING": True})
    answer = app.test_client().post("/api/predict", data={"file": (io.BytesIO(b"jpeg"), "cat.jpg")},
                                    content_type="multipart/form-data").get_json()
    assert answer["predictions"] == [{"label": "tabby", "wnid": "n02123045", "probability": 0.5}]
    assert answer["load_timings"] == {"import_tensorflow": 1.0, "build_model": 2.0, "load_weights": 3.0,
                                      "first_inference": 4.0}
    assert sys.modules["fake_answers.nb02_monolith"].CALLS == [(b"jpeg", "/w.h5", 3)]
