"""A pytest plugin (``-p lab.learner.check_hints``) that keeps each failing check's whole message.

pytest's JUnit XML report cuts a failure's ``message`` attribute at 500 characters, which cut a
long hint off mid-word. This writes the whole of it as the check's ``hint`` property, which the
report keeps in full and ``lab.learner.checks`` reads.
"""

from __future__ import annotations

from typing import Any

import pytest

from .checks import HINT_PROPERTY


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    if call.excinfo is not None and not any(name == HINT_PROPERTY for name, _ in item.user_properties):
        item.user_properties.append((HINT_PROPERTY, call.excinfo.exconly()))
    return (yield)
