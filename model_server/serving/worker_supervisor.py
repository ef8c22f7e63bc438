"""A light parent process that keeps one remote worker process running, restarting it when it
dies or hangs (``python -m model_server worker --connect … --supervise``).

    supervisor (no TensorFlow) ──starts──▶ python -m model_server worker --connect … (same flags)
               ◀── one byte per heartbeat interval, through a pipe ──╯

The broker already stops sending work to a worker it stops hearing from; this brings up a new
process in its place. The child writes to an *alive pipe* (its fd in ``ALIVE_FD_VARIABLE``) from
the ``BrokerLink`` loop, which runs in its main thread while the model computes: a process that
is SIGSTOPped or deadlocked stops writing. The supervisor restarts the child when

- it exits with a non-zero code or a signal (SIGKILL, a crash, the OOM killer), or
- it is silent for ``heartbeat_interval_s × heartbeat_liveness`` once ready (it is SIGKILLed
  first), or never becomes ready within ``START_GRACE_S`` (loading the model takes seconds).

Restarts wait ``RESTART_DELAY_MIN_S``, doubling up to ``RESTART_DELAY_MAX_S``, back to the least
once a child has lived ``STABLE_AFTER_S``. A child that ends before it was ever ready (a missing
key file, weights that cannot load) is tried ``START_ATTEMPTS`` times in a row, then the
supervisor gives up with exit code 1: such faults are in the configuration and do not heal by
retrying. A child that exits 0 stopped on request; the supervisor exits 0 too.

On SIGTERM or SIGINT the supervisor sends SIGTERM to the child (it says DISCONNECT and finishes
what it holds), waits ``drain_seconds + STOP_GRACE_S`` at most (then SIGKILL), and exits 0. A
child never outlives its supervisor: it asks Linux for SIGTERM when its parent dies
(``PR_SET_PDEATHSIG``), and stops when the alive pipe says nobody reads it any more.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable

from .lifecycle import die_with_parent
from .settings import ServerSettings, model_server_command

log = logging.getLogger(__name__)

#: The flag that asks for a supervisor; the child gets the same arguments without it.
SUPERVISE_FLAG = "--supervise"
#: In the child's environment: the fd of the alive pipe's write end. Its presence also tells the
#: child that it is the supervised one (so it never supervises in turn).
ALIVE_FD_VARIABLE = "MODEL_SERVER_WORKER_ALIVE_FD"
RESTART_DELAY_MIN_S = 1.0
RESTART_DELAY_MAX_S = 60.0
#: A child that lived this long was healthy: the next restart waits the least again.
STABLE_AFTER_S = 60.0
#: How long a new child may take to load the model and say it is alive for the first time.
START_GRACE_S = 300.0
#: Children in a row that end before they were ever alive: then the supervisor gives up.
START_ATTEMPTS = 3
#: Beyond the child's own ``drain_seconds``, how long it may take to exit after SIGTERM.
STOP_GRACE_S = 5.0
#: How often the supervisor looks at its child (and at whether it was asked to stop).
POLL_S = 0.1


class WorkerSupervisor:
    """Runs ``python -m model_server worker WORKER_ARGV`` and starts a new one when it dies or hangs."""

    def __init__(self, worker_argv: list[str], settings: ServerSettings):
        self._argv = model_server_command(
            "worker", *(arg for arg in worker_argv if arg != SUPERVISE_FLAG))
        self._silence_limit_s = settings.heartbeat_interval_s * settings.heartbeat_liveness
        self._stop_timeout_s = settings.drain_seconds + STOP_GRACE_S

    def run(self, stop: threading.Event) -> int:
        """Keep a child running until ``stop`` is set; the exit code for the supervisor."""
        delay_s = RESTART_DELAY_MIN_S
        failed_starts = 0
        while not stop.is_set():
            child = _Child.start(self._argv)
            log.info("started worker pid %d", child.pid)
            try:
                ending = self._watch(child, stop)
                if ending is None:
                    return self._stop(child)
            finally:
                child.close()
            if child.exit_code == 0:
                log.info("worker pid %d exited normally; the supervisor stops too", child.pid)
                return 0
            failed_starts = 0 if child.was_alive else failed_starts + 1
            if not child.was_alive:
                ending += f" (attempt {failed_starts} of {START_ATTEMPTS} to start)"
            if failed_starts >= START_ATTEMPTS:
                log.error("worker pid %d %s; giving up", child.pid, ending)
                return 1
            if child.lived_s >= STABLE_AFTER_S:
                delay_s = RESTART_DELAY_MIN_S
            log.warning("worker pid %d %s; restarting it in %g s", child.pid, ending, delay_s)
            if stop.wait(delay_s):
                break
            delay_s = min(2 * delay_s, RESTART_DELAY_MAX_S)
        return 0

    def _watch(self, child: _Child, stop: threading.Event) -> str | None:
        """Wait until the child ends (why, in words) or ``stop`` is set (``None``)."""
        while not stop.is_set():
            child.read_beats(POLL_S)
            code = child.process.poll()
            if code is not None:
                return _describe_exit(code) + ("" if child.was_alive else " before it was ready")
            limit_s = self._silence_limit_s if child.was_alive else START_GRACE_S
            silent_s = child.silent_s()
            if silent_s > limit_s:
                child.kill()
                if child.was_alive:
                    return f"was silent for {silent_s:.1f} s (killed)"
                return f"was not ready after {silent_s:.0f} s (killed)"
        return None

    def _stop(self, child: _Child) -> int:
        """Let the child leave the broker politely, within a bound."""
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
        try:
            child.process.wait(self._stop_timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("worker pid %d did not stop within %g s of SIGTERM; killing it",
                        child.pid, self._stop_timeout_s)
            child.kill()
        log.info("worker pid %d stopped; the supervisor stops too", child.pid)
        return 0


class _Child:
    """One worker process and the read end of its alive pipe."""

    def __init__(self, process: subprocess.Popen[bytes], alive_fd: int):
        self.process = process
        self._alive_fd: int | None = alive_fd
        self._started = time.monotonic()
        self._last_heard = self._started
        self.was_alive = False

    @classmethod
    def start(cls, argv: list[str]) -> _Child:
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        env = {**os.environ, ALIVE_FD_VARIABLE: str(write_fd)}
        try:
            process = subprocess.Popen(argv, env=env, pass_fds=(write_fd,), stdin=subprocess.DEVNULL)
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        return cls(process, read_fd)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def exit_code(self) -> int | None:
        return self.process.returncode

    @property
    def lived_s(self) -> float:
        return time.monotonic() - self._started

    def silent_s(self) -> float:
        return time.monotonic() - self._last_heard

    def read_beats(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the child to say it is alive, and take note if it did."""
        if self._alive_fd is None:
            time.sleep(timeout_s)
            return
        readable, _, _ = select.select([self._alive_fd], [], [], timeout_s)
        if not readable:
            return
        try:
            beats = os.read(self._alive_fd, 4096)
        except BlockingIOError:
            return
        if beats:
            self._last_heard, self.was_alive = time.monotonic(), True
        else:  # the child closed its end: it is exiting, which poll() reports
            self._close_pipe()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def _close_pipe(self) -> None:
        if self._alive_fd is not None:
            os.close(self._alive_fd)
            self._alive_fd = None

    def close(self) -> None:
        self._close_pipe()


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class AlivePipe:
    """The child's end: says "alive" to the supervisor, and notices when the supervisor is gone."""

    def __init__(self, fd: int, on_orphaned: Callable[[], None]):
        self._fd: int | None = fd
        self._on_orphaned = on_orphaned
        os.set_blocking(fd, False)

    @classmethod
    def from_environment(cls, on_orphaned: Callable[[], None]) -> AlivePipe | None:
        """The pipe a supervisor gave this process, or ``None`` when it runs on its own.

        Also asks Linux to send SIGTERM when the supervisor dies, so a SIGKILLed supervisor
        leaves no worker behind; ``on_orphaned`` is called if it is found gone anyway.
        """
        fd = os.environ.get(ALIVE_FD_VARIABLE)
        if fd is None:
            return None
        if not die_with_parent():
            log.debug("cannot ask for SIGTERM when the supervisor dies; the alive pipe will tell")
        return cls(int(fd), on_orphaned)

    def beat(self) -> None:
        if self._fd is None:
            return
        try:
            os.write(self._fd, b".")
        except BlockingIOError:
            pass  # the pipe is full: the supervisor has unread beats anyway
        except OSError:  # EPIPE: nobody reads any more
            os.close(self._fd)
            self._fd = None
            log.warning("the supervisor is gone; stopping")
            self._on_orphaned()


def is_supervised_child() -> bool:
    """Whether this process is a worker started by a ``WorkerSupervisor``."""
    return ALIVE_FD_VARIABLE in os.environ


