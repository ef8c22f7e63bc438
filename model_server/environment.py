"""Settings read from environment variables, one way for the model server, the web app and the lab.

Each value is converted to the type of its setting's default. ``bool("0")`` is true, so a yes/no
setting is read from its words; an empty or unknown word is refused, not guessed. Client side: the
web app reads its ``MODEL_SERVER_*`` variables with it and imports nothing of the server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

#: The prefix of the model server's variables (``MODEL_SERVER_TIMEOUT``), the server's and the
#: web app's alike: one name for one setting wherever it is read.
MODEL_SERVER_PREFIX = "MODEL_SERVER_"

_YES_NO = {"1": True, "true": True, "yes": True, "on": True,
           "0": False, "false": False, "no": False, "off": False}

S = TypeVar("S", bound="DataclassInstance")


def typed_value(name: str, raw: str, default: Any) -> Any:
    """``raw``, the value of the variable ``name``, as the type of ``default``.

    A value that does not convert is a ``ValueError`` that names the variable and the type.
    """
    try:
        if isinstance(default, bool):
            return _YES_NO[raw.strip().lower()]
        return type(default)(raw)
    except (KeyError, ValueError):
        raise ValueError(f"{name}={raw!r} is not a valid {type(default).__name__}") from None


def settings_from_env(cls: type[S], prefix: str, environ: Mapping[str, str] | None = None) -> S:
    """A settings dataclass's defaults, each overridden by the variable ``prefix + FIELD_NAME``."""
    environ = os.environ if environ is None else environ
    settings = cls()
    for f in fields(cls):
        name = prefix + f.name.upper()
        raw = environ.get(name)
        if raw is not None:
            settings = replace(settings, **{f.name: typed_value(name, raw, getattr(settings, f.name))})
    return settings
