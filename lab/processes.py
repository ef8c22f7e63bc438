"""Servers run as subprocesses, from a notebook or a test, that are always stopped.

``start_model_server()``, ``start_web_app()`` and ``start_monolith()`` start a server on a free
loopback port, wait until it answers (a ping through ``ModelClient``, or ``GET /healthz``), and
return a ``ServerProcess`` whose ``stop()`` ends it. If it dies or does not become ready, the
error carries the end of its log.

Nothing is left running: starting a server under a name that is already running stops the old one
first (so a notebook can be run twice in one kernel), every server is stopped when the Python
process exits normally, and on Linux each child is also told to stop if its parent dies (a killed
Jupyter kernel, a crashed test run).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from model_server.client import ModelClient, ModelServerRefused
from model_server.curve import ClientKeys
from model_server.keys import CLIENT_SECRET_KEY_VARIABLE, SERVER_PUBLIC_KEY_VARIABLE, KeyDirectory
from model_server.protocol import REMOTE_WORKER, ServerError, parse_worker_name
from model_server.serving.lifecycle import die_with_parent
from model_server.serving.settings import flags, model_server_command

#: Seconds a server may take to become ready; the model server imports TensorFlow first.
START_TIMEOUT_S = 120.0
#: Seconds a server has to exit after SIGTERM before it is killed.
STOP_TIMEOUT_S = 15.0
LOG_TAIL_LINES = 40
#: Seconds one readiness probe may take (a health check may itself wait on the model server).
PROBE_TIMEOUT_S = 3.0
#: Request threads of a waitress-served app: more than the model server holds at once by default
#: (8 workers + a queue of 64), so that when it is full its ``busy`` reaches users as 503 at once.
#: With fewer (16 here before), the excess waits unanswered in waitress's own queue, which has no
#: bound, until users give up (docs/benchmark.md's open loop measured both).
WAITRESS_THREADS = 96
REPO_ROOT = Path(__file__).resolve().parent.parent
#: The learner's package: servers run from the directory that holds it (``package_directory``).
LEARNER_PACKAGE = "exercises"

_running: dict[str, ServerProcess] = {}
#: Inside ``started_together()``: the servers launched so far, each with its start timeout.
_launched_together: list[tuple[ServerProcess, float]] | None = None


def package_directory(package: str) -> Path:
    """The directory Python imports ``package`` (``exercises`` or ``solutions``) from: the
    checkout's, unless ``PYTHONPATH`` puts another first."""
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]).resolve() if locations else REPO_ROOT / package


class ServerStartFailed(RuntimeError):
    """The server exited or did not answer in time; the message ends with its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """One server subprocess; ``address`` is what clients use (a ZeroMQ endpoint or a URL)."""

    def __init__(
        self, name: str, argv: list[str], address: str, is_ready: Callable[[], bool],
        env: dict[str, str] | None = None, cwd: Path | None = None,
    ):
        self.name = name
        #: ``python -m`` imports from its working directory first: by default the one holding the
        #: ``exercises`` package this process imports (the checkout, unless ``PYTHONPATH`` puts
        #: another first), so that a server runs the learner's code that ``lab.answers`` judged.
        self._cwd = cwd or package_directory(LEARNER_PACKAGE).parent
        self.argv = argv
        self.address = address
        self._is_ready = is_ready
        self._env = {**os.environ, **(env or {})}
        self._process: subprocess.Popen[bytes] | None = None
        log_dir = Path(tempfile.gettempdir()) / "resnet-zmq-lab"
        log_dir.mkdir(exist_ok=True)
        self.log_path = log_dir / f"{name}-{os.getpid()}.log"
        self.ready_seconds: float | None = None
        self._started_at = 0.0
        #: Where remote workers connect, for a broker (see ``start_broker``).
        self.backend_address: str | None = None
        #: The keys a client needs to talk to this model server, when it requires CURVE keys.
        self.client_keys: ClientKeys | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = START_TIMEOUT_S) -> ServerProcess:
        """Start the process and wait until it answers; raises ``ServerStartFailed``.

        Inside ``started_together()`` it only launches: the block's end waits for every server.
        """
        self._launch()
        if _launched_together is not None:
            _launched_together.append((self, timeout))
            return self
        return self.wait_until_ready(timeout)

    def _launch(self) -> None:
        previous = _running.get(self.name)
        if previous is not None:
            previous.stop()
        self._started_at = time.perf_counter()
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self._env, cwd=self._cwd, start_new_session=True,
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )
        _running[self.name] = self

    def wait_until_ready(self, timeout: float = START_TIMEOUT_S) -> ServerProcess:
        """Wait until the launched process answers (``timeout`` seconds from its launch)."""
        assert self._process is not None, "launch the process first"
        deadline = self._started_at + timeout
        while time.perf_counter() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self.stop()
                raise ServerStartFailed(f"{self.name} exited with code {code}:\n{self.log_tail()}")
            try:
                ready = self._is_ready()
            except ModelServerRefused as error:
                self.stop()
                raise ServerStartFailed(f"{self.name} refused us: {error.message}") from None
            if ready:
                self.ready_seconds = time.perf_counter() - self._started_at
                return self
            time.sleep(0.1)
        self.stop()
        raise ServerStartFailed(f"{self.name} was not ready after {timeout:g} s:\n{self.log_tail()}")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """Stop the process (SIGTERM, then SIGKILL) and return its exit code."""
        process = self._process
        if _running.get(self.name) is self:
            del _running[self.name]
        if process is None:
            return None
        if process.poll() is None:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        return process.returncode

    def wait(self, timeout: float) -> int | None:
        """Wait until the process exits by itself (``None`` if it is still running); its exit code."""
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running() else "stopped"
        return f"<{self.name} {state} at {self.address}, pid {self.pid}>"


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


@contextmanager
def started_together() -> Iterator[None]:
    """Servers started in this block are launched at once and waited for at its end.

    Starting is mostly waiting (TensorFlow importing, a model building, a port opening), so
    several servers are ready in about the time of the slowest rather than the sum. Launched
    from the calling thread, as every server must be: each child is told to stop when the thread
    that started it ends. A server that fails to start stops every one launched in the block.
    """
    global _launched_together
    if _launched_together is not None:
        yield  # already inside a block: its end waits
        return
    _launched_together = launched = []
    try:
        yield
    finally:
        _launched_together = None
    try:
        for server, timeout in launched:
            server.wait_until_ready(timeout)
    except BaseException:
        for server, _ in launched:
            server.stop()
        raise


def running_servers() -> list[ServerProcess]:
    """The servers this process started and has not stopped yet."""
    return list(_running.values())


def stop_all() -> None:
    """Stop every server this process started (also run at exit)."""
    for server in list(_running.values()):
        server.stop()


atexit.register(stop_all)


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


def http_answers(url: str) -> Callable[[], bool]:
    def get() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    return get


def start_model_server(
    weights: str = "random", workers: int | None = None, port: int | None = None, extra_args: tuple[str, ...] = (),
    name: str = "model-server", timeout: float = START_TIMEOUT_S, keys: KeyDirectory | None = None,
) -> ServerProcess:
    """``python -m model_server`` on a free port; ``.address`` is its ZeroMQ endpoint.

    ``workers=None`` keeps the server's own default. With ``keys`` (what ``keygen`` wrote) the
    server requires CURVE keys; ``.client_keys`` are those of the client named ``client``.
    """
    address = f"tcp://127.0.0.1:{port or free_port()}"
    chosen = {"address": address, "weights": weights, **_server_keys(keys, workers=False)}
    if workers is not None:
        chosen["workers"] = workers
    argv = model_server_command(*flags(**chosen), *extra_args)
    client_keys = _client_keys(keys)
    server = ServerProcess(name, argv, address, _model_server_answers(address, client_keys))
    server.client_keys = client_keys
    return server.start(timeout)


def _server_keys(keys: KeyDirectory | None, workers: bool) -> dict[str, str]:
    """The key settings of a server that requires clients' (and with ``workers`` workers') keys."""
    if keys is None:
        return {}
    chosen = {"secret_key": str(keys.server_secret), "authorized_clients": str(keys.clients)}
    return {**chosen, "authorized_workers": str(keys.workers)} if workers else chosen


def _client_keys(keys: KeyDirectory | None, name: str = "client") -> ClientKeys | None:
    return None if keys is None else ClientKeys.load(keys.client_secret(name), keys.server_public)


def _port_open(address: str) -> Callable[[], bool]:
    host, port = address.rsplit("/", 1)[-1].rsplit(":", 1)

    def connect() -> bool:
        try:
            socket.create_connection((host, int(port)), timeout=0.5).close()
        except OSError:
            return False
        return True

    return connect


def start_broker(
    backend_port: int | None = None, port: int | None = None, name: str = "broker",
    timeout: float = START_TIMEOUT_S, extra_args: tuple[str, ...] = (),
    keys: KeyDirectory | None = None,
) -> ServerProcess:
    """A model server with no workers of its own (``--workers 0``), waiting for remote ones.

    Ready as soon as it listens; ``.backend_address`` is where workers connect. With ``keys``
    it requires CURVE keys of clients and of workers.
    """
    address = f"tcp://127.0.0.1:{port or free_port()}"
    backend_address = f"tcp://127.0.0.1:{backend_port or free_port()}"
    chosen = {"address": address, "workers": 0, "backend_address": backend_address,
              **_server_keys(keys, workers=True)}
    argv = model_server_command(*flags(**chosen), *extra_args)
    server = ServerProcess(name, argv, address, _port_open(address))
    server.backend_address = backend_address
    server.client_keys = _client_keys(keys)
    return server.start(timeout)


def start_remote_worker(
    broker: ServerProcess, weights: str = "random", workers: int = 2,
    extra_args: tuple[str, ...] = (), name: str = "remote-worker", timeout: float = START_TIMEOUT_S,
    keys: KeyDirectory | None = None, key_name: str = "worker", supervise: bool = False,
) -> ServerProcess:
    """``python -m model_server worker`` joined to ``broker``; ready once the broker lists it.

    The broker's stats name each remote worker process (``host:pid``); a worker says READY only
    once its model is loaded. With ``keys`` the worker uses the key pair named ``key_name``.
    With ``supervise`` the process started is the supervisor (``--supervise``), ready once the
    broker lists one of its children (``remote_worker_pids`` finds them).
    """
    key_files = None if keys is None else (keys.worker_secret(key_name), keys.server_public)
    argv = remote_worker_argv(broker, weights, workers, key_files, supervise, extra_args)
    server: ServerProcess

    def joined_the_broker() -> bool:
        try:
            pids = remote_worker_pids(broker)
        except ServerError:
            return False
        return any(pid == server.pid or parent_pid(pid) == server.pid for pid in pids)

    server = ServerProcess(name, argv, broker.backend_address, joined_the_broker)
    return server.start(timeout)


def remote_worker_argv(
    broker: ServerProcess, weights: str = "random", workers: int = 2,
    key_files: tuple[str | Path, str | Path] | None = None, supervise: bool = False,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The command line of ``python -m model_server worker`` joining ``broker``; ``key_files``
    are the worker's secret key file and the server's public key file."""
    chosen = {"weights": weights, "workers": workers, "supervise": supervise}
    if key_files is not None:
        chosen.update(secret_key=str(key_files[0]), server_public_key=str(key_files[1]))
    return model_server_command("worker", "--connect", broker.backend_address,
                                *flags(**chosen), *extra_args)


def remote_worker_pids(broker: ServerProcess) -> list[int]:
    """The process ids of the remote workers ``broker`` lists (from their names, ``host:pid``)."""
    with ModelClient(broker.address, timeout=1.0, retries=0, connect_timeout=0.2,
                     keys=broker.client_keys) as client:
        workers = client.stats().workers
    return [parse_worker_name(w.name)[1] for w in workers if w.kind == REMOTE_WORKER]


def parent_pid(pid: int) -> int | None:
    """The parent of a running process on Linux; ``None`` if it has exited (or not on Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, parent = stat.rsplit(")", 1)[1].split()[:2]
    return None if state in ("Z", "X") else int(parent)


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
    return ServerProcess(name, argv, address, _port_open(address)).start(timeout)


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
