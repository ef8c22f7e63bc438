"""Checks of the notebooks' exercises: whose answers they check, and how they explain a failure.

They check your answers in ``exercises/`` by default. ``LAB_ANSWERS=solutions`` checks the
reference answers instead, and ``LAB_ANSWERS=/a/directory`` the modules in that directory (the
suite uses that to check the untouched stubs, see ``tests/test_exercises.py``).

Run one notebook's checks with ``pytest tests/exercises -k nb04``. They only run when asked for
like that (or when ``LAB_ANSWERS`` is set): in a run of the whole suite the stubs would fail them,
on purpose, so there they are left out.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lab.learner.checks import ANSWERS_PROPERTY, ANSWERS_VARIABLE, TOUCHES_PROPERTY, answers_directory

HERE = Path(__file__).resolve().parent


def _asked_for(config: pytest.Config) -> bool:
    if os.environ.get(ANSWERS_VARIABLE):
        return True
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "exercise(name): the check is about one method, e.g. \"RequestHandler.reply_to\" "
        "(run_checks(\"nb04\", \"RequestHandler.reply_to\") reports those checks alone)")
    config.addinivalue_line(
        "markers", "real_model: the check builds the real ResNet50 (seconds, not milliseconds); the "
        "mutation test leaves these out, as the quick checks beside them catch its mistakes")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if HERE in collection_path.parents and not _asked_for(config):
        return True
    return None


def _load_answers(module: str) -> ModuleType:
    """Import ``<answers>/<module>.py`` afresh; a module that does not import fails with a hint."""
    path = answers_directory(os.environ.get(ANSWERS_VARIABLE) or "exercises") / f"{module}.py"
    if not path.is_file():
        pytest.fail(f"{path} does not exist: the answers for this notebook go there.", pytrace=False)
    spec = importlib.util.spec_from_file_location(f"answers_{module}", path)
    assert spec is not None and spec.loader is not None
    answers = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(answers)
    except Exception as error:  # a syntax error or a bad import in the learner's file
        problem = f"{type(error).__name__}: {error}"
    else:
        return answers
    pytest.fail(f"{path} does not import: {problem}", pytrace=False)


def _raising_function(error: BaseException) -> Any:
    """The code object of the innermost function that raised ``error``."""
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    return traceback.tb_frame.f_code if traceback is not None else None


def _attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the learner's function; a stub that is not written yet fails with where to write it."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as error:
        stub = _raising_function(error)  # the stub itself: maybe one that fn calls
    name = stub.co_name if stub else fn.__name__
    source = stub or getattr(fn, "__code__", None)
    where = source.co_filename if source else "exercises/"
    pytest.fail(
        f"{name} is not written yet: open {where}, read its docstring and replace "
        "the `raise NotImplementedError(...)` with your code.",
        pytrace=False,
    )


def _expect_raises(
    expected: type[BaseException], hint: str, fn: Callable[..., Any], *args: Any, **kwargs: Any
) -> BaseException:
    """Call an answer that should raise ``expected``; anything else fails with ``hint``."""
    try:
        result = _attempt(fn, *args, **kwargs)
    except expected as error:
        return error
    except Exception as error:
        outcome = f"raised {error!r}"
    else:
        outcome = f"returned {result!r}"
    pytest.fail(f"{fn.__name__} {outcome}; {hint}", pytrace=False)


class _Recording:
    """The answers module, noting which of its exercises a check reads (``lab.learner.checks`` reports it).

    Reading ``answers.time_call`` adds ``("touches", "time_call")`` to the check's
    ``user_properties``, which pytest's ``--junitxml`` report keeps; so a check file needs no
    markers to say which exercise it checks.
    """

    def __init__(self, module: ModuleType, properties: list[tuple[str, object]]):
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "_properties", properties)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._module, name)
        defined_here = getattr(value, "__module__", None) == self._module.__name__
        if defined_here and not name.startswith("_") and (TOUCHES_PROPERTY, name) not in self._properties:
            self._properties.append((TOUCHES_PROPERTY, name))
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._module, name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._module, name)

    def __dir__(self) -> list[str]:
        return dir(self._module)


@pytest.fixture
def load_answers(request: pytest.FixtureRequest) -> Callable[[str], Any]:
    """``load_answers("resnet_model_server")``: the module of answers being checked."""
    properties = request.node.user_properties
    for marker in request.node.iter_markers("exercise"):
        properties.append((TOUCHES_PROPERTY, marker.args[0]))

    def load(module: str) -> Any:
        properties.append((ANSWERS_PROPERTY, module))
        return _Recording(_load_answers(module), properties)

    return load


@pytest.fixture
def attempt() -> Callable[..., Any]:
    """``attempt(fn, *args)``: call an answer; an unwritten stub fails with a hint."""
    return _attempt


@pytest.fixture
def expect_raises() -> Callable[..., BaseException]:
    """``expect_raises(ValueError, hint, fn, *args)``: the answer must raise that, or fail with the hint."""
    return _expect_raises


#: Frames of the learner's file shown under an exception their code caught and logged.
FRAMES_SHOWN = 3
#: Characters of the exception's message shown (pytest's report keeps 500 of a hint).
MESSAGE_SHOWN = 120


def caught_and_logged(records: list[logging.LogRecord], answers_file: Path) -> str:
    """What the learner's catch-all caught, from the records it logged: the exception, and the last
    frames of the traceback that are in their own file (with the line of each), then where it
    was raised if that is elsewhere (a library their code called)."""
    logged = [r for r in records if r.levelno >= logging.WARNING]
    caught = [r.exc_info[1] for r in logged if r.exc_info and r.exc_info[1] is not None]
    if not caught:
        said = f" (it logged only {logged[-1].getMessage()!r})" if logged else ""
        return (f"your code caught an exception and logged no traceback{said}: log it with "
                "log.exception(...) in the catch-all, and the traceback will show here")
    return raised_where(caught[-1], answers_file, "your catch-all caught")


def raised_where(error: BaseException, answers_file: Path, prefix: str = "raised") -> str:
    """``error``, the last frames of its traceback in the learner's file, and where it was raised."""
    frames = traceback.extract_tb(error.__traceback__)
    mine = [f for f in frames if Path(f.filename).resolve() == answers_file.resolve()]
    mine = [f for i, f in enumerate(mine) if i + 1 == len(mine) or mine[i + 1].lineno != f.lineno]
    lines = [f"{prefix} {type(error).__name__}: {str(error)[:MESSAGE_SHOWN]}"]
    lines += [f"{answers_file.name}, line {f.lineno}, in {f.name}: {(f.line or '').strip()}"
              for f in mine[-FRAMES_SHOWN:]]
    if frames and frames[-1] not in mine:
        last = frames[-1]
        lines.append(f"raised in {Path(last.filename).name}, line {last.lineno}, in {last.name}: "
                     f"{(last.line or '').strip()}")
    return "\n        ".join(lines)


@pytest.fixture
def answers_file() -> Callable[[str], Path]:
    """``answers_file("resnet_model_server")``: the file of answers being checked."""
    return lambda module: answers_directory(os.environ.get(ANSWERS_VARIABLE) or "exercises") / f"{module}.py"


@pytest.fixture
def caught() -> Callable[[list[logging.LogRecord], Path], str]:
    """``caught(records, answers_file)``: what the learner's catch-all caught and logged, and where."""
    return caught_and_logged


@pytest.fixture
def where() -> Callable[..., str]:
    """``where(error, answers_file)``: an exception and the lines of the learner's file it came through."""
    return raised_where
