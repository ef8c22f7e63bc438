"""Servers run as subprocesses, from a notebook, a benchmark or a test, that are always stopped.

A ``ServerProcess`` starts a command, waits until its readiness probe answers (``http_answers``,
``port_open``, or a ping that ``harness.launch`` builds), and ``stop()`` ends it. If it dies or
does not become ready, the error carries the end of its log. ``harness.launch`` has the recipe
of each part of the system (``start_model_server()``, ``start_web_app()``, ...) on a free port.

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from model_server.client import ModelServerRefused
from model_server.curve import ClientKeys
from model_server.serving.lifecycle import ServerStartError, die_with_parent

#: Seconds a server may take to become ready; the model server imports TensorFlow first.
START_TIMEOUT_S = 120.0
#: Seconds a server has to exit after SIGTERM before it is killed.
STOP_TIMEOUT_S = 15.0
LOG_TAIL_LINES = 40
#: Seconds one readiness probe may take (a health check may itself wait on the model server).
PROBE_TIMEOUT_S = 3.0
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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServerProcess:
    """One server subprocess; ``address`` is what clients use (a ZeroMQ endpoint or a URL)."""

    def __init__(
        self, name: str, argv: list[str], address: str, is_ready: Callable[[], bool],
        env: dict[str, str] | None = None, cwd: Path | None = None,
    ):
        self.name = name
        #: ``python -m`` imports from its working directory first: by default the one holding the
        #: ``exercises`` package this process imports (the checkout, unless ``PYTHONPATH`` puts
        #: another first), so that a server runs the learner's code that ``lab.learner.answers`` judged.
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
        """Start the process and wait until it answers; raises ``ServerStartError``.

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
                raise ServerStartError(f"{self.name} exited with code {code}:\n{self.log_tail()}")
            try:
                ready = self._is_ready()
            except ModelServerRefused as error:
                self.stop()
                raise ServerStartError(f"{self.name} refused us: {error.message}") from None
            if ready:
                self.ready_seconds = time.perf_counter() - self._started_at
                return self
            time.sleep(0.1)
        self.stop()
        raise ServerStartError(f"{self.name} was not ready after {timeout:g} s:\n{self.log_tail()}")

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
    launched: list[tuple[ServerProcess, float]] = []
    _launched_together = launched
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


def http_answers(url: str) -> Callable[[], bool]:
    def get() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    return get


def port_open(address: str) -> Callable[[], bool]:
    host, port = address.rsplit("/", 1)[-1].rsplit(":", 1)

    def connect() -> bool:
        try:
            socket.create_connection((host, int(port)), timeout=0.5).close()
        except OSError:
            return False
        return True

    return connect


def parent_pid(pid: int) -> int | None:
    """The parent of a running process on Linux; ``None`` if it has exited (or not on Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, parent = stat.rsplit(")", 1)[1].split()[:2]
    return None if state in ("Z", "X") else int(parent)
