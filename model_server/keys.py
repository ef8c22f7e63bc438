"""CURVE key files: ``python -m model_server keygen DIR`` writes them, everyone else loads them.

A key pair is two files made by pyzmq (``zmq.auth``): ``NAME.key`` holds the public key (safe to
copy anywhere) and ``NAME.key_secret`` both keys (readable by its owner only). ``keygen`` lays
them out the way the model server reads them::

    DIR/server.key, server.key_secret        the model server's pair
    DIR/clients/NAME.key, NAME.key_secret    one pair per client allowed to send requests
    DIR/workers/NAME.key, NAME.key_secret    one pair per worker process allowed to join

The server is given its own ``.key_secret`` and the ``clients/`` and ``workers/`` directories: it
accepts exactly the public ``*.key`` files found there. A client or a worker is given its own
``.key_secret`` and the server's public ``server.key``.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth

SERVER_NAME = "server"
CLIENTS_DIR = "clients"
WORKERS_DIR = "workers"
PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"
#: The variables that give a client (the web app, the test client) its CURVE key files.
CLIENT_SECRET_KEY_VARIABLE = "MODEL_SERVER_CLIENT_SECRET_KEY"
SERVER_PUBLIC_KEY_VARIABLE = "MODEL_SERVER_SERVER_PUBLIC_KEY"
#: Secret key files and the directories holding them: their owner only.
SECRET_FILE_MODE = 0o600
KEY_DIR_MODE = 0o700


class KeyFileError(ValueError):
    """A key file or directory is missing or unusable; the message names it and says what to do."""


@dataclass(frozen=True)
class KeyPair:
    """One party's CURVE keys, in the Z85 text form libzmq takes."""

    public: bytes
    secret: bytes

    @classmethod
    def load(cls, secret_key_file: str | os.PathLike[str]) -> KeyPair:
        public, secret = _load(secret_key_file, "secret key")
        if secret is None:
            raise KeyFileError(
                f"{secret_key_file} holds only a public key; give the {SECRET_SUFFIX} file"
            )
        return cls(public, secret)


def load_public_key(public_key_file: str | os.PathLike[str]) -> bytes:
    public, _ = _load(public_key_file, "public key")
    return public


def load_authorized_keys(directory: str | os.PathLike[str]) -> frozenset[bytes]:
    """The public keys of every ``*.key`` file in ``directory``; none at all is an error."""
    path = Path(directory)
    if not path.is_dir():
        raise KeyFileError(f"{path} is not a directory of public keys ({PUBLIC_SUFFIX} files)")
    keys = frozenset(zmq.auth.load_certificates(path))
    if not keys:
        raise KeyFileError(f"{path} holds no public keys ({PUBLIC_SUFFIX} files): nobody could connect")
    return keys


def _load(path: str | os.PathLike[str], what: str) -> tuple[bytes, bytes | None]:
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as error:
        raise KeyFileError(
            f"cannot read the {what} file {path}: {error}"
            " ('python -m model_server keygen DIR' writes key files)"
        ) from None
    return public, secret


@dataclass(frozen=True)
class KeyDirectory:
    """The files ``keygen`` writes under one directory, by role."""

    path: Path

    @property
    def server_secret(self) -> Path:
        return self.path / f"{SERVER_NAME}{SECRET_SUFFIX}"

    @property
    def server_public(self) -> Path:
        return self.path / f"{SERVER_NAME}{PUBLIC_SUFFIX}"

    @property
    def clients(self) -> Path:
        return self.path / CLIENTS_DIR

    @property
    def workers(self) -> Path:
        return self.path / WORKERS_DIR

    def client_secret(self, name: str = "client") -> Path:
        return self.clients / f"{name}{SECRET_SUFFIX}"

    def worker_secret(self, name: str = "worker") -> Path:
        return self.workers / f"{name}{SECRET_SUFFIX}"


def create_key_pair(directory: Path, name: str) -> tuple[Path, Path]:
    """Write ``NAME.key`` and ``NAME.key_secret`` in ``directory``; never overwrites a key.

    The secret file is created empty with mode 0600 before pyzmq writes into it, so the secret is
    never readable by others, whatever the umask.
    """
    directory.mkdir(mode=KEY_DIR_MODE, parents=True, exist_ok=True)
    public = directory / f"{name}{PUBLIC_SUFFIX}"
    secret = directory / f"{name}{SECRET_SUFFIX}"
    for path in (public, secret):
        if path.exists():
            raise KeyFileError(f"{path} already exists; remove it first to replace the key")
    os.close(os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_FILE_MODE))
    zmq.auth.create_certificates(directory, name)
    os.chmod(secret, SECRET_FILE_MODE)
    return public, secret


def keygen(directory: Path, clients: list[str], workers: list[str]) -> KeyDirectory:
    """The server's pair (unless ``directory`` has one already), and one pair per client and worker."""
    keys = KeyDirectory(directory)
    directory.mkdir(mode=KEY_DIR_MODE, parents=True, exist_ok=True)
    if not keys.server_secret.exists():
        create_key_pair(directory, SERVER_NAME)
    for name in clients:
        create_key_pair(keys.clients, name)
    for name in workers:
        create_key_pair(keys.workers, name)
    return keys


def main(argv: list[str]) -> int:
    """``python -m model_server keygen DIR``: write the keys and say which file goes where."""
    parser = argparse.ArgumentParser(
        prog="python -m model_server keygen",
        description="Write CURVE key pairs for the model server, its clients and its remote "
        "workers. Run it again on the same DIR with --client/--worker to add more.",
    )
    parser.add_argument("directory", type=Path, help="where to write the keys (created if missing)")
    parser.add_argument("--client", action="append", metavar="NAME",
                        help="a client key pair to create (repeatable; default: one named 'client')")
    parser.add_argument("--worker", action="append", metavar="NAME",
                        help="a worker key pair to create (repeatable; default: one named 'worker')")
    args = parser.parse_args(argv)
    first_time = not KeyDirectory(args.directory).server_secret.exists()
    clients = args.client if args.client is not None else (["client"] if first_time else [])
    workers = args.worker if args.worker is not None else (["worker"] if first_time else [])
    try:
        keys = keygen(args.directory, clients, workers)
    except (KeyFileError, OSError) as error:
        print(f"model_server keygen: {error}", file=sys.stderr)
        return 1
    client = keys.client_secret(clients[0] if clients else "NAME")
    worker = keys.worker_secret(workers[0] if workers else "NAME")
    print(f"""Keys written under {keys.path}. Secret files ({SECRET_SUFFIX}) are readable by you only.

The model server (keep server{SECRET_SUFFIX} on the server machine only):
  python -m model_server --address tcp://0.0.0.0:5576 --backend-address tcp://0.0.0.0:5577 \\
      --secret-key {keys.server_secret} \\
      --authorized-clients {keys.clients} --authorized-workers {keys.workers}
Each client gets its own {SECRET_SUFFIX} file and the server's public key, e.g. the web app:
  MODEL_SERVER_ADDRESS=tcp://SERVER:5576 \\
  {CLIENT_SECRET_KEY_VARIABLE}={client} \\
  {SERVER_PUBLIC_KEY_VARIABLE}={keys.server_public} flask --app flask_server.app run
Each worker machine gets its own {SECRET_SUFFIX} file and the server's public key:
  python -m model_server worker --connect tcp://SERVER:5577 \\
      --secret-key {worker} --server-public-key {keys.server_public}
The server accepts the public {PUBLIC_SUFFIX} files in {CLIENTS_DIR}/ and {WORKERS_DIR}/, read again
whenever they change: add one there to let a client or worker in, delete one to lock it out
(from its next connection; restart the server to cut open connections at once).""")
    return 0
