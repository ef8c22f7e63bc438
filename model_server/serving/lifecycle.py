"""How a server process lives and ends: it stops on SIGTERM or Ctrl-C, dies with its parent, and
says why when it cannot start.

The model server, its remote workers and their supervisor, ``python -m harness.serve`` and the
processes the lab starts all use these, so that a notebook kernel or a supervisor that dies
leaves no server behind and every server stops the same way. ``ServerStartError`` is the one
error for a server that could not start, raised by the model server itself (an address taken)
and by ``harness.processes`` for a server process that exited or never answered.
"""

from __future__ import annotations

import ctypes
import signal
import sys
import threading

#: ``prctl``'s option "send me this signal when my parent dies" (``<linux/prctl.h>``).
PR_SET_PDEATHSIG = 1


class ServerStartError(RuntimeError):
    """A server could not start; the message says where and why (for a process, with its log)."""


def stop_on_signals(signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)) -> threading.Event:
    """An event set when this process receives SIGINT (Ctrl-C) or SIGTERM; call it from the main thread.

    The server's loops wait on the event, so a signal ends them where they check it (draining what
    is in flight) instead of raising ``KeyboardInterrupt`` wherever the main thread happens to be.
    """
    stop = threading.Event()
    for signum in signals:
        signal.signal(signum, lambda *_: stop.set())
    return stop


def die_with_parent(signum: signal.Signals = signal.SIGTERM) -> bool:
    """Ask Linux to send this process ``signum`` when its parent dies; false where it cannot.

    Safe as a ``subprocess.Popen`` ``preexec_fn`` (it runs in the child before ``exec`` and only
    calls ``prctl``). Elsewhere than Linux it does nothing: callers that must know use another
    channel too (the supervisor's alive pipe).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(signum))) == 0
    except (OSError, AttributeError):
        return False
