"""The web apps' settings: defaults in code, then the environment, then a test's mapping.

How to reach the model server is read from ``MODEL_SERVER_*`` variables, each named as its
setting (``MODEL_SERVER_TIMEOUT=0.5``), the prefix the model server's own settings use; every
other setting, Flask's and ours, from ``FLASK_<NAME>`` (``FLASK_MAX_CONTENT_LENGTH``, ``FLASK_TOP``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from model_server.client import CONNECT_TIMEOUT_S, REQUEST_RETRIES, REQUEST_TIMEOUT_S
from model_server.environment import MODEL_SERVER_PREFIX, typed_value
from model_server.keys import CLIENT_SECRET_KEY_VARIABLE, SERVER_PUBLIC_KEY_VARIABLE
from model_server.protocol import DEFAULT_ADDRESS, DEFAULT_TOP

#: The variables that name the CURVE key files when the model server requires keys (see
#: ``model_server.keys``): the web app's own secret key, and the model server's public key.
KEY_VARIABLES = (CLIENT_SECRET_KEY_VARIABLE, SERVER_PUBLIC_KEY_VARIABLE)
#: The model server settings and their defaults; each is overridden by the variable of its name.
MODEL_SERVER_DEFAULTS: dict[str, Any] = {
    "MODEL_SERVER_ADDRESS": DEFAULT_ADDRESS,
    # Seconds to wait for a reply, per attempt; then up to MODEL_SERVER_RETRIES attempts more.
    "MODEL_SERVER_TIMEOUT": REQUEST_TIMEOUT_S,
    "MODEL_SERVER_RETRIES": REQUEST_RETRIES,
    "MODEL_SERVER_CONNECT_TIMEOUT": CONNECT_TIMEOUT_S,
    # Send the decoded 224×224 pixels (the web app decodes each upload for its preview anyway),
    # so that the model server does not decode it again; 0 sends the image file.
    "MODEL_SERVER_SEND_PIXELS": True,
    **{name: "" for name in KEY_VARIABLES},
}


def configure(app: Flask, test_config: Mapping[str, Any] | None, **extra_defaults: Any) -> None:
    app.config.from_mapping(
        # Uploads above this get 413 before they are read.
        MAX_CONTENT_LENGTH=16 * 2**20,
        TOP=DEFAULT_TOP,
        **extra_defaults,
    )
    app.config.from_prefixed_env()
    app.config.from_mapping(model_server_settings(os.environ))
    if test_config is not None:
        app.config.from_mapping(test_config)


def model_server_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """``MODEL_SERVER_DEFAULTS``, each overridden by its variable in ``environ``, read as the model
    server reads its own (``model_server.environment.typed_value``).

    ``FLASK_MODEL_SERVER_*`` is refused rather than ignored: it is what these settings were once
    called, and a timeout silently not applied is hard to find.
    """
    for name in environ:
        if name.startswith("FLASK_" + MODEL_SERVER_PREFIX):
            raise ValueError(f"{name} is not read: the web app reads {name.removeprefix('FLASK_')}")
    settings = dict(MODEL_SERVER_DEFAULTS)
    for name, default in MODEL_SERVER_DEFAULTS.items():
        raw = environ.get(name)
        if raw is None:
            continue
        settings[name] = typed_value(name, raw, default)
    return settings
