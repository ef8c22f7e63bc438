"""The one way the tests ask "is this refused, with which code and message?"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from model_server.protocol import ErrorCode, RequestError


def assert_refused(call: Callable[..., Any], argument: Any, code: ErrorCode, message: str) -> None:
    """``call(argument)`` raises ``RequestError`` with ``code``, its message containing ``message``."""
    with pytest.raises(RequestError) as caught:
        call(argument)
    assert caught.value.code is code, caught.value.message
    assert message in caught.value.message
