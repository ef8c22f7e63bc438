"""The model server's settings: defaults here, overridden by ``MODEL_SERVER_*`` variables, then flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Mapping, TypeVar

from ..images import DEFAULT_MAX_PIXELS
from ..models.weights import DEFAULT_SEED
from ..protocol import DEFAULT_ADDRESS, F32, TENSORFLOW

ENV_PREFIX = "MODEL_SERVER_"
#: How often the broker and the worker threads wake up, at least, to check deadlines, heartbeats
#: and whether the server is stopping.
POLL_INTERVAL_MS = 100
#: How often the worker pool's supervisor looks for a hung forward pass or a dead worker thread.
SUPERVISE_INTERVAL_S = 0.25


@dataclass(frozen=True)
class ServerSettings:
    #: Where clients connect (the ROUTER frontend). Loopback unless you ask for more.
    address: str = DEFAULT_ADDRESS
    #: Also listen for remote workers here (e.g. tcp://127.0.0.1:5577); empty: in-process only.
    backend_address: str = ""
    #: auto | imagenet | random | path to an .h5 file (see model_server.models.weights).
    weights: str = "auto"
    #: What runs the model: tensorflow (the lab's default) or openvino (the optional extra).
    runtime: str = TENSORFLOW
    #: f32, or bf16 (OpenVINO only, and only on a CPU with bf16 arithmetic: AVX512_BF16 or AMX).
    precision: str = F32
    #: Where OpenVINO keeps the models it converted from Keras (empty: the default cache folder).
    openvino_cache: str = ""
    #: Worker request handlers behind the DEALER backend: threads that decode images and wait for
    #: the model. As many as ``max_batch`` lets a full batch form; 0 makes a pure broker for
    #: remote workers.
    workers: int = 8
    #: At most this many images share one forward pass (1 switches batching off).
    max_batch: int = 8
    #: How long a batch may wait for company that is known to be coming: images that workers are
    #: still decoding, or the next images of the clients answered by the last batch: long enough
    #: for a few photos to be decoded; a lone request never waits (see batching.py).
    max_delay_ms: float = 20.0
    #: TensorFlow's threads inside one operation and operations at once; 0: one per core.
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    #: Requests inside the server at once (being answered or waiting); beyond, "busy" at once.
    max_queue: int = 64
    #: Seed of the untrained weights: the same seed gives the same model in every process.
    seed: int = DEFAULT_SEED
    #: Images with more pixels than this are refused before decoding.
    max_pixels: int = DEFAULT_MAX_PIXELS
    #: On SIGTERM or Ctrl-C, how long in-flight requests may take to finish.
    drain_seconds: float = 5.0
    #: The deadline of a request that names none (``"deadline_ms"``): then it is answered
    #: ``deadline_exceeded`` and not computed any more.
    request_timeout_s: float = 30.0
    #: Broker and remote workers send each other a heartbeat this often (seconds) ...
    heartbeat_interval_s: float = 1.0
    #: ... and give the other side up after this many intervals without hearing from it.
    heartbeat_liveness: int = 3
    #: A forward pass running longer than this is given up as hung: its requests are answered
    #: ``worker_lost`` and a new batcher thread takes over. So is the decoding of an image: its
    #: request is answered ``decode_timeout`` and a new worker thread takes over the stuck one's
    #: socket.
    hang_timeout_s: float = 30.0
    log_level: str = "INFO"
    #: This process's CURVE secret key file (``*.key_secret``): the server's own, or a remote
    #: worker's. For the server it switches on encryption and authentication (see ``security``).
    secret_key: str = ""
    #: Server: directories of the public keys (``*.key``) allowed to send requests / join as workers.
    authorized_clients: str = ""
    authorized_workers: str = ""
    #: Remote worker: the model server's public key file (``server.key``).
    server_public_key: str = ""
    #: Remote worker: run under a light parent process that starts a new worker process when
    #: this one dies or hangs (see ``worker_supervisor``).
    supervise: bool = False
    #: Listen on a non-loopback address without CURVE keys (refused otherwise).
    insecure_public: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        """Defaults overridden by ``MODEL_SERVER_ADDRESS``, ``MODEL_SERVER_WORKERS`` and so on."""
        return settings_from_env(cls, ENV_PREFIX, environ)


S = TypeVar("S")


def settings_from_env(cls: type[S], prefix: str, environ: Mapping[str, str] | None = None) -> S:
    """A settings dataclass's defaults, each overridden by the variable ``prefix + FIELD_NAME``.

    Values are converted to the type of the field's default; a value that does not convert is a
    ``ValueError`` naming the variable.
    """
    environ = os.environ if environ is None else environ
    settings = cls()
    for f in fields(cls):
        raw = environ.get(prefix + f.name.upper())
        if raw is None:
            continue
        default = getattr(settings, f.name)
        try:
            value = _parse_bool(raw) if isinstance(default, bool) else type(default)(raw)
        except ValueError:
            raise ValueError(
                f"{prefix}{f.name.upper()}={raw!r} is not a valid {type(default).__name__}"
            ) from None
        settings = replace(settings, **{f.name: value})
    return settings


_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True,
             "0": False, "false": False, "no": False, "off": False, "": False}


def _parse_bool(raw: str) -> bool:
    """``bool("0")`` is true; environment variables need their own reading."""
    try:
        return _BOOLEANS[raw.strip().lower()]
    except KeyError:
        raise ValueError(raw) from None
