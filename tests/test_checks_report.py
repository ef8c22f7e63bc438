"""``lab.learner.checks`` reports the real checks one line per exercise, with the failing checks' hints."""

from __future__ import annotations

import os
import re
import subprocess
import textwrap

import pytest

from harness.processes import REPO_ROOT
from lab.learner import checks, stubs

HALF_WRITTEN = '''
import time


def time_call(fn, *args, **kwargs):
    """Written, with one mistake: milliseconds instead of seconds."""
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, (time.perf_counter() - started) * 1000.0
'''


@pytest.fixture
def half_written(tmp_path):
    """The stubs, with ``time_call`` written in milliseconds and the rest untouched."""
    stubs.copy_into(tmp_path)
    stub = (tmp_path / "nb02_monolith.py").read_text()
    head, rest = stub.split("def time_call", 1)
    rest = rest[rest.index("\ndef ") + 1:]
    (tmp_path / "nb02_monolith.py").write_text(head + HALF_WRITTEN.lstrip() + "\n\n" + rest)
    return tmp_path


def line_of(output: str, exercise: str) -> str:
    return next(line for line in output.splitlines() if line.strip().startswith(exercise + " "))


def test_reference_answers_are_all_done(capsys):
    # Notebook 03's checks take a second; notebook 02's build ResNet50 (the run of every check
    # against the reference, tests/conftest.py, covers them).
    checks.run_checks("nb03", answers="solutions")
    output = capsys.readouterr().out
    assert line_of(output, "worker_loop").endswith(checks.DONE)
    assert line_of(output, "run_proxy").endswith(checks.DONE)
    assert "All " in output and "✗" not in output
    assert "passed" not in output and "====" not in output, "pytest's own output leaked through"


def test_every_reference_exercise_of_every_notebook_is_checked_and_done(reference_check_results):
    """An exercise that no check reads (one reached only over HTTP, say) would say "0 of 0"."""
    summary = checks.format_summary(reference_check_results, checks.answers_directory("solutions"))
    lines = summary.splitlines()
    assert len(lines) >= 6, lines
    for line in lines:
        done, of = re.match(r"nb\d\d: (\d+) of (\d+) exercises done", line).groups()
        assert done == of and int(of) > 0, line


def test_untouched_stubs_are_not_attempted_without_hints(shipped_stubs, capsys):
    checks.run_checks("nb02", answers=str(shipped_stubs))
    output = capsys.readouterr().out
    assert line_of(output, "time_call").endswith(checks.NOT_ATTEMPTED)
    assert line_of(output, "slowest_stage").endswith(checks.NOT_ATTEMPTED)
    assert "✗" not in output


def test_an_untouched_class_is_not_attempted_though_its_given_init_is_written(shipped_stubs, capsys):
    checks.run_checks("nb04", answers=str(shipped_stubs))
    output = capsys.readouterr().out
    assert line_of(output, "RequestHandler").endswith(checks.NOT_ATTEMPTED)
    assert line_of(output, "Server").endswith(checks.NOT_ATTEMPTED)


def test_half_written_module_gets_k_of_n_and_the_failing_hint(half_written, capsys):
    checks.run_checks("nb02", answers=str(half_written))
    output = capsys.readouterr().out
    assert line_of(output, "time_call").endswith("2 of 4 checks pass")
    assert "✗ a 0.05 s sleep took" in output and "milliseconds" in output
    assert "\nassert " not in output and "AssertionError" not in output
    assert line_of(output, "slowest_stage").endswith(checks.NOT_ATTEMPTED)


def test_no_argument_summarises_every_notebook(half_written, capsys):
    checks.run_checks(answers=str(half_written))
    lines = capsys.readouterr().out.splitlines()
    notebooks = sorted({path.name[5:9] for path in checks.EXERCISE_TESTS.glob("test_nb*.py")})
    assert [line.split(":")[0] for line in lines] == notebooks
    nb02 = next(line for line in lines if line.startswith("nb02"))
    assert "0 of 3 exercises done, 2 not attempted; 2 of 10 checks pass" in nb02


def test_a_check_that_reads_no_exercise_is_reported_under_the_module():
    results = [checks.CheckResult("nb09", "test_x", "nb09_mod", (), "the hint")]
    report = checks.exercise_reports(results, REPO_ROOT / "exercises")
    assert [(e.name, e.status, e.hints) for e in report["nb09_mod"]] == [
        ("", "0 of 1 checks pass", ["the hint"])]


def test_one_exercise_is_reported_alone_for_the_check_cell_under_its_step(half_written, capsys):
    checks.run_checks("nb02", "time_call", answers=str(half_written))
    output = capsys.readouterr().out
    assert line_of(output, "time_call").endswith("2 of 4 checks pass")
    assert "milliseconds" in output and "slowest_stage" not in output and "handle_upload" not in output
    assert output.rstrip().endswith("Some checks of time_call fail: fix what each hint above points at.")
    checks.run_checks("nb02", "time_cal", answers=str(half_written))
    assert "No check of nb02 reads time_cal" in capsys.readouterr().out
    checks.run_checks("nb02", "slowest_stage", answers=str(half_written))
    output = capsys.readouterr().out
    assert line_of(output, "slowest_stage").endswith(checks.NOT_ATTEMPTED)
    assert output.rstrip().endswith("slowest_stage is not written yet: replace its `raise "
                                    "NotImplementedError` in exercises/nb02_monolith.py with your code, "
                                    "then run this cell again."), output


LONG_HINT_CHECK = textwrap.dedent('''
    def test_nb99_long(load_answers):
        assert False, "the reply was " + "word " * 150 + "and this is where the hint ends"

    def test_nb99_long_failed():
        import pytest
        pytest.fail("word " * 150 + "the end of a pytest.fail hint", pytrace=False)
''')


def test_a_long_hint_reaches_the_learner_whole(tmp_path):
    """pytest's JUnit report cuts a failure's message at 500 characters (mid-word); the hint must
    come through whole, without pytest's re-evaluated ``assert`` line."""
    (tmp_path / "test_nb99_long.py").write_text(LONG_HINT_CHECK)
    (tmp_path / "conftest.py").write_text((checks.EXERCISE_TESTS / "conftest.py").read_text())
    report = tmp_path / "report.xml"
    command = [arg.replace(str(checks.EXERCISE_TESTS), str(tmp_path)) for arg in checks.checks_command("nb99")]
    subprocess.run([*command, f"--junitxml={report}"], cwd=REPO_ROOT, capture_output=True, timeout=120,
                   env={**os.environ, checks.ANSWERS_VARIABLE: "solutions"})
    hints = {result.name: result.hint for result in checks.read_report(report)}
    assert hints["test_nb99_long"].endswith("and this is where the hint ends"), hints
    assert hints["test_nb99_long"].startswith("the reply was word") and "assert False" not in hints["test_nb99_long"]
    assert hints["test_nb99_long_failed"].endswith("the end of a pytest.fail hint"), hints


def test_every_module_of_a_notebook_is_reported(tmp_path):
    """Notebook 04 has two answers modules: the report lists both (a loop variable once hid the
    second), and one exercise's report only its module."""
    results = [checks.CheckResult("nb04", "test_a", "resnet_model_server", ("Server",), None),
               checks.CheckResult("nb04", "test_b", "test_client", ("read_reply",), "the hint")]
    report = checks.format_notebook("nb04", results, tmp_path)
    assert "nb04 · resnet_model_server.py" in report and "nb04 · test_client.py" in report, report
    assert "the hint" in report
    alone = checks.format_notebook("nb04", results, tmp_path, "read_reply")
    assert "test_client.py" in alone and "resnet_model_server.py" not in alone, alone


def test_one_exercise_is_checked_by_its_own_modules_checks_alone():
    """run_checks("nb04", "read_reply") runs the test client's checks, not the model server's too."""
    assert checks.module_of("nb04", "RequestHandler.reply_to") == "resnet_model_server"
    assert checks.module_of("nb04", "read_reply") == "test_client"
    assert checks.module_of("nb04", "time_call") is None, "time_call is notebook 02's"
    assert checks.module_of("nb04", "no_such_exercise") is None
