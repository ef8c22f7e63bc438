"""The model server's settings: defaults here, overridden by ``MODEL_SERVER_*`` variables, then flags."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypedDict

from ..environment import MODEL_SERVER_PREFIX, settings_from_env
from ..images import DEFAULT_MAX_PIXELS
from ..models.classifier import check_choice
from ..models.runtimes import ModelSettings
from ..models.weights import DEFAULT_SEED
from ..protocol import DEFAULT_ADDRESS, F32, PRECISIONS, RUNTIMES, TENSORFLOW
from .dispatch import DISPATCH_RULES, PEAK_EWMA

#: How often the broker and the worker threads wake up, at least, to check deadlines, heartbeats
#: and whether the server is stopping.
POLL_INTERVAL_MS = 100
#: How often the worker pool's supervisor looks for a hung forward pass or a dead worker thread.
SUPERVISE_INTERVAL_S = 0.25
#: The broker's loop, and a remote worker's link to it, come round at least every poll interval;
#: one that has not come round for this long is stalled (``/livez`` says 503). Twenty intervals:
#: a healthy loop on a throttled CPU is late by tenths of a second, never by seconds.
LOOP_STALL_S = 20 * POLL_INTERVAL_MS / 1000
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class InvalidSettings(ValueError):
    """A setting out of its range; the message names the flag and what it must be."""


@dataclass(frozen=True)
class Flag:
    """How a settings field appears on the command line: its help and what values it takes."""

    help: str
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    #: The least value allowed, and whether that value itself is allowed (``--max-batch`` at
    #: least 1; ``--hang-timeout-s`` above 0).
    minimum: float | None = None
    minimum_allowed: bool = True


def flag(help: str, choices: tuple[str, ...] | None = None, metavar: str | None = None,
         minimum: float | None = None, minimum_allowed: bool = True) -> dict[str, Flag]:
    """A field's ``metadata``: ``field(default=8, metadata=flag("...", minimum=1))``."""
    return {"flag": Flag(help, choices, metavar, minimum, minimum_allowed)}


class Bound(TypedDict, total=False):
    """``flag``'s lower bound, as keywords: ``flag("...", **at_least(1))``."""

    minimum: float
    minimum_allowed: bool


def at_least(minimum: float) -> Bound:
    return {"minimum": minimum}


POSITIVE: Bound = {"minimum": 0, "minimum_allowed": False}


@dataclass(frozen=True)
class ServerSettings:
    """Every setting of the model server and its remote workers, each with its flag.

    ``cli`` generates the flags from these fields (``max_batch`` is ``--max-batch``, the type and
    the default are the field's, the help is its ``flag``) and ``command_line`` turns settings back
    into them; ``validate`` is the one check of their values.
    """

    address: str = field(default=DEFAULT_ADDRESS, metadata=flag(
        "where clients connect (the ROUTER frontend); loopback unless you ask for more"))
    backend_address: str = field(default="", metadata=flag(
        "also accept remote workers here, e.g. tcp://127.0.0.1:5577; empty: in-process workers only"))
    weights: str = field(default="auto", metadata=flag(
        "auto, imagenet, random, or a path to an .h5 file (see model_server.models.weights)"))
    runtime: str = field(default=TENSORFLOW, metadata=flag(
        "what runs the model; openvino needs the [openvino] extra", choices=RUNTIMES))
    precision: str = field(default=F32, metadata=flag(
        "bf16 only with openvino, on a CPU with bf16 arithmetic (AVX512_BF16 or AMX)",
        choices=PRECISIONS))
    openvino_cache: str = field(default="", metadata=flag(
        "folder of the models OpenVINO converted from Keras (empty: ~/.cache/resnet_zmq_lab/openvino)"))
    workers: int = field(default=8, metadata=flag(
        "worker request handlers behind the DEALER backend: threads that decode images and wait "
        "for the model; as many as --max-batch lets a full batch form; 0 makes a pure broker for "
        "remote workers", **at_least(0)))
    max_batch: int = field(default=8, metadata=flag(
        "most images per forward pass; 1 switches batching off", **at_least(1)))
    max_delay_ms: float = field(default=20.0, metadata=flag(
        "longest wait of a batch for company known to be coming: images still being decoded, or "
        "the next images of clients that recent batches answered; a lone request never waits",
        **at_least(0)))
    intra_op_threads: int = field(default=0, metadata=flag(
        "TensorFlow threads inside one operation; 0: one per core"))
    inter_op_threads: int = field(default=0, metadata=flag(
        "TensorFlow operations run at once; 0: TensorFlow decides"))
    max_queue: int = field(default=64, metadata=flag(
        "requests in the server at once (answered or waiting); beyond, 'busy' at once",
        **at_least(1)))
    seed: int = field(default=DEFAULT_SEED, metadata=flag(
        "seed of the untrained weights: the same seed gives the same model in every process"))
    max_pixels: int = field(default=DEFAULT_MAX_PIXELS, metadata=flag(
        "refuse images with more pixels, before decoding them"))
    drain_seconds: float = field(default=5.0, metadata=flag(
        "on SIGTERM or Ctrl-C, time allowed for requests in flight"))
    request_timeout_s: float = field(default=30.0, metadata=flag(
        "deadline of a request that names none in \"deadline_ms\": then it is answered "
        "deadline_exceeded and not computed any more", **POSITIVE))
    dispatch: str = field(default=PEAK_EWMA, metadata=flag(
        "how the broker picks among workers with room: peak-ewma (the cheapest by its recent round "
        "trips × its load; see model_server.serving.dispatch) or least-loaded (by load alone)",
        choices=DISPATCH_RULES))
    heartbeat_interval_s: float = field(default=1.0, metadata=flag(
        "seconds between heartbeats of the broker and remote workers", **POSITIVE))
    heartbeat_liveness: int = field(default=3, metadata=flag(
        "heartbeats missed before the other side is given up", **at_least(1)))
    hang_timeout_s: float = field(default=30.0, metadata=flag(
        "a forward pass running longer is given up as hung (its requests are answered "
        "worker_lost, a new batcher thread takes over), and so is an image decode (answered "
        "decode_timeout, a new worker thread takes over the stuck one's socket)", **POSITIVE))
    log_level: str = field(default="INFO", metadata=flag(
        "how much the server logs", choices=LOG_LEVELS))
    secret_key: str = field(default="", metadata=flag(
        "this process's CURVE secret key (*.key_secret from 'keygen'): the server's own, which "
        "switches on encryption and authentication of every connection, or a remote worker's",
        metavar="FILE"))
    authorized_clients: str = field(default="", metadata=flag(
        "with --secret-key: public keys (*.key) allowed to send requests", metavar="DIR"))
    authorized_workers: str = field(default="", metadata=flag(
        "with --secret-key: public keys (*.key) allowed to join as workers", metavar="DIR"))
    server_public_key: str = field(default="", metadata=flag(
        "remote worker: the model server's public key (server.key from 'keygen')", metavar="FILE"))
    supervise: bool = field(default=False, metadata=flag(
        "remote worker: run under a light parent process that starts a new worker process when "
        "this one dies or hangs (see worker_supervisor)"))
    insecure_public: bool = field(default=False, metadata=flag(
        "listen on a non-loopback address without CURVE keys (refused otherwise)"))
    http_address: str = field(default="", metadata=flag(
        "serve /livez, /readyz and /metrics (Prometheus) over plain HTTP here, e.g. 0.0.0.0:8000 "
        "in a container; empty: off. Any address is allowed, beyond loopback too, without keys: "
        "they tell how the process is, never a secret or an image", metavar="HOST:PORT"))

    @property
    def model_settings(self) -> ModelSettings:
        """The settings that say which model to load, and how (``runtimes.load_classifier``)."""
        return ModelSettings(**{setting.name: getattr(self, setting.name)
                                for setting in fields(ModelSettings)})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        """Defaults overridden by ``MODEL_SERVER_ADDRESS``, ``MODEL_SERVER_WORKERS`` and so on."""
        return settings_from_env(cls, MODEL_SERVER_PREFIX, environ)

    def validate(self, *, remote_worker: bool = False) -> None:
        """Raise ``InvalidSettings`` for the first value out of its range, naming its flag.

        The one check of the settings, whether they came from flags, ``MODEL_SERVER_*``
        variables (which argparse's ``choices`` never see) or code. A remote worker needs a
        worker; the server may have none if remote workers answer for it.
        """
        try:
            check_choice(self.runtime, self.precision)
        except ValueError as error:
            raise InvalidSettings(str(error)) from None
        for f in fields(self):
            how, value, name = f.metadata["flag"], getattr(self, f.name), flag_name(f.name)
            if how.choices and value not in how.choices:
                raise InvalidSettings(f"{name} must be one of {', '.join(how.choices)}; got {value!r}")
            if how.minimum is None:
                continue
            if how.minimum_allowed and value < how.minimum:
                raise InvalidSettings(f"{name} must be at least {how.minimum}" if how.minimum
                                      else f"{name} must not be negative" if f.type == "float"
                                      else f"{name} must be at least 0")
            if not how.minimum_allowed and value <= how.minimum:
                raise InvalidSettings(f"{name} must be positive")
        if self.http_address:
            try:
                http_host_and_port(self.http_address)
            except ValueError as error:
                raise InvalidSettings(f"--http-address {error}") from None
        if remote_worker and self.workers < 1:
            raise InvalidSettings("--workers must be at least 1")
        if not remote_worker and self.workers == 0 and not self.backend_address:
            raise InvalidSettings(
                "--workers 0 needs --backend-address: someone has to answer the requests")


def http_host_and_port(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8000`` for IPv6) as the host and the port; raises ``ValueError``."""
    host, colon, port = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"must be HOST:PORT, e.g. 127.0.0.1:8000 or 0.0.0.0:8000; got {address!r}")
    return host, int(port)


def flag_name(field_name: str) -> str:
    """``max_batch`` → ``--max-batch``."""
    return "--" + field_name.replace("_", "-")


def add_flags(parser: argparse.ArgumentParser, defaults: ServerSettings, names: Iterable[str],
              help: Mapping[str, str] | None = None) -> None:
    """One flag per field named, generated from the field: its name, type, default and ``flag``.

    ``defaults`` (the settings read from the environment) give the defaults shown; ``help``
    words a flag differently for one command (a worker's ``--secret-key`` is its own key).
    """
    by_name = {f.name: f for f in fields(ServerSettings)}
    for name in names:
        how = by_name[name].metadata["flag"]
        default = getattr(defaults, name)
        text = (help or {}).get(name, how.help)
        if isinstance(default, bool):
            parser.add_argument(flag_name(name), action="store_true", default=default, help=text)
            continue
        if default != "":
            text += " (default: %(default)s)"
        parser.add_argument(flag_name(name), type=type(default), default=default,
                            choices=how.choices, metavar=how.metavar, help=text)


def command_line(settings: ServerSettings, names: Iterable[str] | None = None) -> list[str]:
    """The flags that give ``settings``: those of ``names`` always, or of every field that is
    not at its default.

    The inverse of the parser: ``parse_settings(command_line(s)) == s`` when no
    ``MODEL_SERVER_*`` variable changes the defaults.
    """
    defaults = ServerSettings()
    if names is None:
        names = [f.name for f in fields(ServerSettings)
                 if getattr(settings, f.name) != getattr(defaults, f.name)]
    argv: list[str] = []
    for name in names:
        value = getattr(settings, name)
        if isinstance(value, bool):
            argv += [flag_name(name)] if value else []
        else:
            argv += [flag_name(name), str(value)]
    return argv


def flags(**chosen: Any) -> list[str]:
    """The flags that set exactly the ``chosen`` fields, e.g. ``flags(max_batch=8)``."""
    return command_line(ServerSettings(**chosen), chosen)


def model_server_command(*args: str) -> list[str]:
    """``python -m model_server ARGS`` run by this interpreter: the one place that spells it.

    ``args`` may start with ``worker`` or ``keygen``; ``command_line`` gives the flags.
    """
    return [sys.executable, "-m", "model_server", *args]
