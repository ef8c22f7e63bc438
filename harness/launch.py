"""How each part of the system is started as a process: the recipes (command line, address, readiness
probe) of the model server, the broker, a remote worker, the web app, the monolith and the
original write-up's server and app. ``harness.processes`` runs them and always stops them.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from harness.processes import START_TIMEOUT_S, ServerProcess, free_port, http_answers, parent_pid, port_open
from model_server.client import ModelClient, ModelServerRefused
from model_server.curve import ClientKeys
from model_server.keys import CLIENT_SECRET_KEY_VARIABLE, SERVER_PUBLIC_KEY_VARIABLE, KeyDirectory
from model_server.protocol import REMOTE_WORKER, ServerError, parse_worker_name
from model_server.serving.settings import flags, model_server_command

#: Request threads of a waitress-served app: more than the model server holds at once by default
#: (8 workers + a queue of 64), so that when it is full its ``busy`` reaches users as 503 at once.
#: With fewer (16 here before), the excess waits unanswered in waitress's own queue, which has no
#: bound, until users give up (docs/benchmark.md's open loop measured both).
WAITRESS_THREADS = 96
#: What ``python -m model_server worker`` logs once its model is loaded (``serving.cli``), whether
#: or not the broker lets it join.
WORKER_LOADED = "worker(s) ready for"
#: What a process started through ``imports_blocked`` prints on stderr for each import it refused.
BLOCKED_IMPORT = "BLOCKED IMPORT"
#: When ``start_remote_worker`` counts a worker as started: once the broker lists it, once its
#: log says its model is loaded (a worker the broker refuses never joins), or as soon as it runs
#: (a worker whose log the caller reads for what it says instead).
WorkerReady = Literal["joined", "loaded", "launched"]


def _model_server_answers(address: str, keys: ClientKeys | None = None) -> Callable[[], bool]:
    """A readiness probe; a server that refuses our keys raises ``ModelServerRefused`` at once."""
    def ping() -> bool:
        with ModelClient(address, timeout=1.0, retries=0, connect_timeout=0.2, keys=keys) as client:
            try:
                client.ping()
            except ModelServerRefused:
                raise
            except ServerError:
                return False
            return True

    return ping


def start_model_server(
    weights: str = "random", workers: int | None = None, port: int | None = None, extra_args: tuple[str, ...] = (),
    name: str = "model-server", timeout: float = START_TIMEOUT_S, keys: KeyDirectory | None = None,
    blocked_imports: tuple[str, ...] = (), live_at: str | None = None,
) -> ServerProcess:
    """``python -m model_server`` on a free port; ``.address`` is its ZeroMQ endpoint.

    ``workers=None`` keeps the server's own default. With ``keys`` (what ``keygen`` wrote) the
    server requires CURVE keys; ``.client_keys`` are those of the client named ``client``. With
    ``blocked_imports`` (top-level package names) every import of them fails and says so in the
    log (``imports_blocked``): to show that a start needs no TensorFlow. With ``live_at``
    (``HOST:PORT``) it serves ``/livez``, ``/readyz`` and ``/metrics`` there and counts as started
    once it is live, before its model is loaded: to watch it load.
    """
    address = f"tcp://127.0.0.1:{port or free_port()}"
    chosen: dict[str, object] = {"address": address, "weights": weights, **_server_keys(keys, workers=False)}
    if workers is not None:
        chosen["workers"] = workers
    if live_at is not None:
        chosen["http_address"] = live_at
    argv = model_server_command(*flags(**chosen), *extra_args)
    if blocked_imports:
        argv = imports_blocked(argv, blocked_imports)
    client_keys = _client_keys(keys)
    started = (http_answers(f"http://{live_at}/livez") if live_at is not None
               else _model_server_answers(address, client_keys))
    server = ServerProcess(name, argv, address, started)
    server.client_keys = client_keys
    return server.start(timeout)


def import_blocker(packages: Sequence[str]) -> str:
    """Python code that makes every later import of ``packages`` (top-level names) fail, each
    attempt reported on stderr as ``BLOCKED IMPORT name``, so that code catching the
    ``ImportError`` cannot hide that it tried. Run it first in a fresh interpreter."""
    return textwrap.dedent(
        f"""
        import importlib.abc, sys

        class BlockImports(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {tuple(packages)!r}:
                    print(f"{BLOCKED_IMPORT} {{name}}", file=sys.stderr, flush=True)
                    raise ImportError(f"{{name}} is blocked")
                return None

        sys.meta_path.insert(0, BlockImports())
        """
    )


def imports_blocked(argv: Sequence[str], packages: Sequence[str]) -> list[str]:
    """``python -m MODULE ARGS`` as the same command with ``import_blocker(packages)`` run first."""
    python, option, module, *args = argv
    if option != "-m":
        raise ValueError(f"not a python -m command: {list(argv)}")
    run = f"import runpy\nrunpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n"
    return [python, "-c", import_blocker(packages) + run, *args]


def _server_keys(keys: KeyDirectory | None, workers: bool) -> dict[str, str]:
    """The key settings of a server that requires clients' (and with ``workers`` workers') keys."""
    if keys is None:
        return {}
    chosen = {"secret_key": str(keys.server_secret), "authorized_clients": str(keys.clients)}
    return {**chosen, "authorized_workers": str(keys.workers)} if workers else chosen


def _client_keys(keys: KeyDirectory | None, name: str = "client") -> ClientKeys | None:
    return None if keys is None else ClientKeys.load(keys.client_secret(name), keys.server_public)


def start_broker(
    backend_port: int | None = None, port: int | None = None, name: str = "broker",
    timeout: float = START_TIMEOUT_S, extra_args: tuple[str, ...] = (),
    keys: KeyDirectory | None = None, host: str = "127.0.0.1",
) -> ServerProcess:
    """A model server with no workers of its own (``--workers 0``), waiting for remote ones.

    Ready as soon as it listens; ``.backend_address`` is where workers connect. With ``keys``
    it requires CURVE keys of clients and of workers. ``host`` is where it listens for clients
    (beyond loopback it refuses to start without keys or ``--insecure-public``); workers connect
    on loopback.
    """
    address = f"tcp://{host}:{port or free_port()}"
    backend_address = f"tcp://127.0.0.1:{backend_port or free_port()}"
    chosen = {"address": address, "workers": 0, "backend_address": backend_address,
              **_server_keys(keys, workers=True)}
    argv = model_server_command(*flags(**chosen), *extra_args)
    server = ServerProcess(name, argv, address, port_open(address))
    server.backend_address = backend_address
    server.client_keys = _client_keys(keys)
    return server.start(timeout)


def start_remote_worker(
    broker: ServerProcess, weights: str = "random", workers: int = 2,
    extra_args: tuple[str, ...] = (), name: str = "remote-worker", timeout: float = START_TIMEOUT_S,
    keys: KeyDirectory | None = None, key_name: str = "worker", supervise: bool = False,
    key_files: tuple[str | Path, str | Path] | None = None, ready_when: WorkerReady = "joined",
) -> ServerProcess:
    """``python -m model_server worker`` joined to ``broker``; ready once the broker lists it.

    The broker's stats name each remote worker process (``host:pid``); a worker says READY only
    once its model is loaded. With ``keys`` the worker uses the key pair named ``key_name``;
    ``key_files`` (its secret key file, the server's public key file) give it any others, e.g.
    keys the broker does not know, for which ``ready_when="loaded"`` (see ``WorkerReady``).
    With ``supervise`` the process started is the supervisor (``--supervise``), ready once the
    broker lists one of its children (``remote_worker_pids`` finds them).
    """
    if keys is not None:
        if key_files is not None:
            raise ValueError("give a worker keys or key_files, not both")
        key_files = (keys.worker_secret(key_name), keys.server_public)
    argv = _remote_worker_argv(broker, weights, workers, key_files, supervise, extra_args)
    server: ServerProcess

    def joined_the_broker() -> bool:
        try:
            pids = remote_worker_pids(broker)
        except ServerError:
            return False
        return any(pid == server.pid or parent_pid(pid) == server.pid for pid in pids)

    probes: dict[WorkerReady, Callable[[], bool]] = {
        "joined": joined_the_broker,
        "loaded": lambda: WORKER_LOADED in server.log_tail(),
        "launched": lambda: True,
    }
    server = ServerProcess(name, argv, _backend_of(broker), probes[ready_when])
    return server.start(timeout)


def _backend_of(broker: ServerProcess) -> str:
    if broker.backend_address is None:
        raise ValueError(f"{broker.name} is not a broker: it has no backend address (start_broker)")
    return broker.backend_address


def _remote_worker_argv(
    broker: ServerProcess, weights: str = "random", workers: int = 2,
    key_files: tuple[str | Path, str | Path] | None = None, supervise: bool = False,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The command line of ``python -m model_server worker`` joining ``broker``; ``key_files``
    are the worker's secret key file and the server's public key file."""
    chosen = {"weights": weights, "workers": workers, "supervise": supervise}
    if key_files is not None:
        chosen.update(secret_key=str(key_files[0]), server_public_key=str(key_files[1]))
    return model_server_command("worker", "--connect", _backend_of(broker),
                                *flags(**chosen), *extra_args)


def remote_worker_pids(broker: ServerProcess) -> list[int]:
    """The process ids of the remote workers ``broker`` lists (from their names, ``host:pid``)."""
    with ModelClient(broker.address, timeout=1.0, retries=0, connect_timeout=0.2,
                     keys=broker.client_keys) as client:
        workers = client.stats().workers
    return [parse_worker_name(w.name)[1] for w in workers if w.kind == REMOTE_WORKER]


def start_wsgi_app(
    app_factory: str, name: str, env: dict[str, str], port: int | None, timeout: float,
    wsgi_server: str,
) -> ServerProcess:
    """Serve ``module:create_app`` with Flask's own server or with waitress (production)."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    if wsgi_server == "flask":
        module = app_factory.split(":")[0]
        argv = [sys.executable, "-m", "flask", "--app", module, "run", "--host", "127.0.0.1",
                "--port", str(port), "--no-reload", "--no-debugger"]
    elif wsgi_server == "waitress":
        argv = [sys.executable, "-m", "waitress", "--host", "127.0.0.1", f"--port={port}",
                f"--threads={WAITRESS_THREADS}", "--call", app_factory]
    else:
        raise ValueError(f"unknown WSGI server {wsgi_server!r}; use 'flask' or 'waitress'")
    server = ServerProcess(name, argv, url, http_answers(f"{url}/healthz"), env)
    return server.start(timeout)


def start_web_app(
    model_server_address: str, port: int | None = None, name: str = "web-app",
    timeout: float = START_TIMEOUT_S, wsgi_server: str = "flask", keys: KeyDirectory | None = None,
    key_name: str = "client",
) -> ServerProcess:
    """The web app (``flask_server.app``) on a free port; ``.address`` is its URL.

    With ``keys`` it talks to the model server as the client named ``key_name``.
    """
    env = {"MODEL_SERVER_ADDRESS": model_server_address}
    if keys is not None:
        env[CLIENT_SECRET_KEY_VARIABLE] = str(keys.client_secret(key_name))
        env[SERVER_PUBLIC_KEY_VARIABLE] = str(keys.server_public)
    return start_wsgi_app("flask_server.app:create_app", name, env, port, timeout, wsgi_server)


def start_monolith(
    weights: str = "random", port: int | None = None, name: str = "monolith",
    timeout: float = START_TIMEOUT_S,
) -> ServerProcess:
    """The monolith (``flask_server.monolith``) on a free port; ``.address`` is its URL."""
    return start_wsgi_app("flask_server.monolith:create_app", name, {"FLASK_MODEL_WEIGHTS": weights},
                       port, timeout, "flask")


def start_original_model_server(
    package: str = "solutions", weights: str = "random", port: int | None = None,
    name: str = "original-model-server", timeout: float = START_TIMEOUT_S,
) -> ServerProcess:
    """The original write-up's ``resnet_model_server.py`` (a thread per request), the learner's
    (``package="exercises"``) or the reference one, on a free port. It builds ResNet50 before it
    binds, so an open port means it is ready."""
    address = f"tcp://127.0.0.1:{port or free_port()}"
    argv = [sys.executable, "-m", f"{package}.resnet_model_server", "--address", address,
            "--weights", weights]
    return ServerProcess(name, argv, address, port_open(address)).start(timeout)


def start_original_web_app(
    model_server_address: str, package: str = "solutions", port: int | None = None,
    name: str = "original-web-app", timeout: float = START_TIMEOUT_S,
) -> ServerProcess:
    """The original write-up's ``app.py`` turned into a ZeroMQ client, the learner's or the
    reference one, on a free port; ``.address`` is its URL."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", f"{package}.app", "--port", str(port),
            "--model-address", model_server_address]
    return ServerProcess(name, argv, url, http_answers(f"{url}/")).start(timeout)
