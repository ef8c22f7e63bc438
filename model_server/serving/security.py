"""Who may talk to the model server: loopback by default, CURVE keys when exposed.

The model server listens on 127.0.0.1 unless told otherwise. Listening on anything else (another
interface, ``0.0.0.0``, ``*``) needs CURVE: with ``secret_key`` set, every TCP connection to the
frontend and the backend is encrypted, and a ZAP handler (pyzmq's ``ThreadAuthenticator``) accepts
only the public keys found in ``authorized_clients`` (frontend: who may send requests) and
``authorized_workers`` (backend: who may join as a worker, and so see users' images). A
non-loopback address without keys is refused unless ``insecure_public`` says it is meant.

This is the server's half; clients and remote workers secure their sockets with
``model_server.curve``.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import zmq
from zmq.auth.thread import ThreadAuthenticator

from ..curve import ClientKeys
from ..keys import (
    PUBLIC_SUFFIX,
    KeyFileError,
    KeyPair,
    load_authorized_keys,
)

if TYPE_CHECKING:
    from .settings import ServerSettings

log = logging.getLogger(__name__)

#: ZAP domains: which list of keys a connection is checked against.
CLIENTS_DOMAIN = "clients"
WORKERS_DOMAIN = "workers"
LOOPBACK_NAMES = {"localhost", "lo"}


class InsecureAddress(ValueError):
    """A non-loopback address without CURVE keys and without the explicit opt-in."""


@dataclass(frozen=True)
class ServerKeys:
    """The server's own key pair and the public keys it accepts, per role."""

    own: KeyPair
    authorized_clients: frozenset[bytes]
    authorized_workers: frozenset[bytes]
    #: Where the authorized keys were read from, to read them again when they change.
    clients_directory: str | None = None
    workers_directory: str | None = None


def server_keys(settings: ServerSettings) -> ServerKeys | None:
    """The keys ``settings`` name, loaded; ``None`` when CURVE is off. Raises ``KeyFileError``."""
    if not settings.secret_key:
        if settings.authorized_clients or settings.authorized_workers:
            raise KeyFileError("authorized keys without the server's own --secret-key: give both")
        return None
    if not settings.authorized_clients:
        raise KeyFileError("--secret-key needs --authorized-clients: the directory of the public"
                           " keys allowed to send requests")
    if settings.backend_address and not settings.authorized_workers:
        raise KeyFileError("--secret-key with --backend-address needs --authorized-workers: the"
                           " directory of the public keys allowed to join as workers")
    return ServerKeys(
        KeyPair.load(settings.secret_key),
        load_authorized_keys(settings.authorized_clients),
        load_authorized_keys(settings.authorized_workers) if settings.authorized_workers else frozenset(),
        settings.authorized_clients, settings.authorized_workers or None,
    )


def worker_keys(settings: ServerSettings) -> ClientKeys | None:
    """A remote worker's keys (its ``secret_key`` and ``server_public_key``), or ``None``."""
    return ClientKeys.from_files(settings.secret_key, settings.server_public_key)


def is_loopback(address: str) -> bool:
    """Whether a ZeroMQ endpoint can only be reached from this machine.

    ``inproc://`` and ``ipc://`` never leave it; ``tcp://`` is local for 127.0.0.0/8, ``::1``,
    ``localhost`` and the ``lo`` interface. Anything else (``*``, ``0.0.0.0``, a name, another
    interface) may be reachable from the network.
    """
    transport, _, rest = address.partition("://")
    if transport in ("inproc", "ipc"):
        return True
    host = rest.rsplit(":", 1)[0].strip("[]")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: ServerSettings) -> list[str]:
    """The addresses the server would expose to the network without CURVE.

    Raises ``InsecureAddress`` unless ``insecure_public`` accepts them; the caller then warns.
    """
    if settings.secret_key:
        return []
    exposed = [address for address in (settings.address, settings.backend_address)
               if address and not is_loopback(address)]
    if exposed and not settings.insecure_public:
        raise InsecureAddress(
            f"refusing to listen on {', '.join(exposed)} without CURVE keys: anyone who can reach "
            "it could send requests or join as a worker and see users' images. Create keys with "
            "'python -m model_server keygen DIR' and pass --secret-key, --authorized-clients and "
            "--authorized-workers, or use a loopback address (tcp://127.0.0.1:PORT); "
            "--insecure-public listens anyway"
        )
    return exposed


class _AuthorizedKeys:
    """A ZAP credentials provider: accepts the keys of one role, logs the first refusal of a key.

    With ``directory``, the keys are read again whenever its ``*.key`` files change (checked at
    each new connection), so adding or deleting a key takes effect without a restart. It fails
    closed: a directory that is gone, unreadable or empty authorizes nobody until it is mended.
    """

    def __init__(self, role: str, keys: frozenset[bytes], directory: str | Path | None = None):
        self._role = role
        self._keys = keys
        self._directory = Path(directory) if directory else None
        self._seen = self._fingerprint()
        self._refused: set[bytes] = set()

    def _fingerprint(self) -> tuple[tuple[str, int, int], ...] | str:
        """The names, times and sizes of the key files; a string says why there are none."""
        if self._directory is None:
            return "no directory"
        try:
            stats = [(path.name, path.stat()) for path in self._directory.glob(f"*{PUBLIC_SUFFIX}")]
        except OSError as error:
            return str(error)
        return tuple(sorted((name, stat.st_mtime_ns, stat.st_size) for name, stat in stats))

    def _reload_if_changed(self) -> None:
        fingerprint = self._fingerprint()
        if self._directory is None or fingerprint == self._seen:
            return
        self._seen = fingerprint
        try:
            keys = load_authorized_keys(self._directory)
        except (KeyFileError, OSError, ValueError) as error:
            log.error("no %s is authorized any more, until this is mended: %s", self._role, error)
            keys = frozenset()
        else:
            log.info("authorized %s keys read again from %s: %d now (%d added, %d removed)",
                     self._role, self._directory, len(keys), len(keys - self._keys),
                     len(self._keys - keys))
        self._keys, self._refused = keys, set()

    def callback(self, domain: str, key: bytes) -> bool:
        self._reload_if_changed()
        if key in self._keys:
            return True
        level = logging.DEBUG if key in self._refused else logging.WARNING
        self._refused.add(key)
        log.log(level, "refused a %s whose public key is not authorized: %s", self._role,
                key.decode("ascii", "replace"))
        return False


def start_authenticator(context: zmq.Context[zmq.Socket[bytes]], keys: ServerKeys) -> ThreadAuthenticator:
    """Check every CURVE connection in ``context`` against the authorized keys of its role."""
    authenticator = ThreadAuthenticator(context, log=logging.getLogger(f"{__name__}.zap"))
    authenticator.start()
    authenticator.configure_curve_callback(CLIENTS_DOMAIN, _AuthorizedKeys(
        "client", keys.authorized_clients, keys.clients_directory))
    authenticator.configure_curve_callback(WORKERS_DOMAIN, _AuthorizedKeys(
        "worker", keys.authorized_workers, keys.workers_directory))
    return authenticator


def start_security(
    settings: ServerSettings, context: zmq.Context[zmq.Socket[bytes]]
) -> tuple[ServerKeys | None, ThreadAuthenticator | None]:
    """Check the addresses, load the keys, and start the authenticator when there are keys.

    Raises ``InsecureAddress`` or ``KeyFileError`` (both ``ValueError``) with what to do.
    """
    for address in check_exposure(settings):
        log.warning("listening on %s with no encryption and no authentication (--insecure-public):"
                    " anyone who can reach it can send requests or join as a worker", address)
    keys = server_keys(settings)
    if keys is None:
        return None, None
    return keys, start_authenticator(context, keys)


def secure_server_socket(socket: zmq.Socket[bytes], keys: ServerKeys | None, domain: str) -> None:
    """Make ``socket`` a CURVE server for ``domain``'s keys; call before ``bind``. No-op without keys.

    Only TCP connections are secured: the local workers' ``inproc://`` connection stays as it is.
    """
    if keys is None:
        return
    socket.curve_server = True
    socket.curve_publickey = keys.own.public
    socket.curve_secretkey = keys.own.secret
    socket.zap_domain = domain.encode()
