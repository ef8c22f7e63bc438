"""The web apps' settings: defaults in code, then ``FLASK_*`` variables, then a test's mapping."""

from __future__ import annotations

import os
from typing import Any, Mapping

from flask import Flask

from model_server.client import CONNECT_TIMEOUT_S, REQUEST_RETRIES, REQUEST_TIMEOUT_S
from model_server.keys import CLIENT_SECRET_KEY_VARIABLE, SERVER_PUBLIC_KEY_VARIABLE
from model_server.protocol import DEFAULT_ADDRESS, DEFAULT_TOP

#: The variable that tells the web app where the model server listens.
ADDRESS_VARIABLE = "MODEL_SERVER_ADDRESS"
#: The variables that name the CURVE key files when the model server requires keys (see
#: ``model_server.keys``): the web app's own secret key, and the model server's public key.
KEY_VARIABLES = (CLIENT_SECRET_KEY_VARIABLE, SERVER_PUBLIC_KEY_VARIABLE)


def configure(app: Flask, test_config: Mapping[str, Any] | None, **extra_defaults: Any) -> None:
    app.config.from_mapping(
        MODEL_SERVER_ADDRESS=os.environ.get(ADDRESS_VARIABLE, DEFAULT_ADDRESS),
        **{name: os.environ.get(name, "") for name in KEY_VARIABLES},
        MODEL_SERVER_TIMEOUT=REQUEST_TIMEOUT_S,
        MODEL_SERVER_RETRIES=REQUEST_RETRIES,
        MODEL_SERVER_CONNECT_TIMEOUT=CONNECT_TIMEOUT_S,
        # Uploads above this get 413 before they are read.
        MAX_CONTENT_LENGTH=16 * 2**20,
        TOP=DEFAULT_TOP,
        **extra_defaults,
    )
    app.config.from_prefixed_env()
    if test_config is not None:
        app.config.from_mapping(test_config)
