"""``lab.learner.answers``: a later cell uses the learner's code once it is written, the reference before."""

from __future__ import annotations

import ast
import textwrap

from lab.learner import answers

EXERCISE = textwrap.dedent('''
    def written(x):
        """Doubles."""
        return 2 * x

    def stub(x):
        """Write me."""
        raise NotImplementedError("write stub")

    def bare_stub():
        raise NotImplementedError

    class Server:
        def start(self):
            return self

        def stop(self):
            """Stops."""
            raise NotImplementedError("write Server.stop")

    class Done:
        def run(self):
            return 1
''')


def test_stubs_are_told_apart_from_written_code(tmp_path):
    (tmp_path / "nb99.py").write_text(EXERCISE)
    assert answers.unwritten("nb99", "written", tmp_path) == []
    assert answers.unwritten("nb99", "stub", tmp_path) == ["stub"]
    assert answers.unwritten("nb99", "bare_stub", tmp_path) == ["bare_stub"]
    assert answers.unwritten("nb99", "Server", tmp_path) == ["Server.stop"]
    assert answers.unwritten("nb99", "Done", tmp_path) == []
    assert answers.unwritten("nb99", "missing", tmp_path) == ["missing"], "a deleted function is not written"


def test_a_strict_stub_says_what_to_write_where():
    functions = {node.name: node for node in ast.parse(EXERCISE).body if isinstance(node, ast.FunctionDef)}
    assert answers.is_stub(functions["stub"], strict=True)
    assert answers.is_stub(functions["bare_stub"]) and not answers.is_stub(functions["bare_stub"], strict=True)
    assert not answers.is_stub(functions["written"], strict=True)


def test_until_written_the_lab_uses_the_reference_and_says_so(tmp_path, capsys):
    (tmp_path / "nb99.py").write_text(EXERCISE)
    assert answers.whose("nb99", "written", "Server", directory=tmp_path) == answers.REFERENCE
    said = capsys.readouterr().out
    assert "Not written yet in exercises/nb99.py: Server.stop" in said and "solutions/nb99.py" in said
    assert answers.whose("nb99", "written", "Done", directory=tmp_path) == answers.LEARNER
    assert "Using your code: exercises/nb99.py (written, Done)" in capsys.readouterr().out


def test_learner_or_reference_loads_the_chosen_module(monkeypatch):
    monkeypatch.setattr(answers, "whose", lambda module, *names, quiet=False: answers.REFERENCE)
    median = answers.learner_or_reference("nb07_compare", "median")
    assert median.__module__ == "solutions.nb07_compare" and median([3, 1, 2]) == 2
