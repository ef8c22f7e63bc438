"""Which worker threads are decoding an image, since when; and giving up the ones that hang.

A worker thread decodes each image itself (handing it to another thread would add a thread
switch, and its wake-up latency, to every request). If a decode hangs, the worker pool's
supervisor abandons it (``abandon_overdue``): it answers the request ``decode_timeout`` on the
worker's socket and starts a new thread on that socket, so the requests queued to it are not
lost. A thread cannot be killed: if the stuck decode ever returns, ``decoding`` raises
``DecodeAbandoned`` in it, and it leaves without touching the socket or the batcher again.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator


class DecodeAbandoned(BaseException):
    """Raised in a worker thread whose decode was given up: its request is answered already.

    A ``BaseException``, so that no ``except Exception`` on the way turns it into a reply.
    """


class DecodeWatch:
    """The decodes in progress, by thread; safe to use from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: dict[threading.Thread, float] = {}
        self._abandoned: set[threading.Thread] = set()

    @contextmanager
    def decoding(self) -> Iterator[None]:
        """Around one decode; on leaving, raises ``DecodeAbandoned`` if it was given up."""
        thread = threading.current_thread()
        with self._lock:
            self._since[thread] = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                del self._since[thread]
                abandoned = thread in self._abandoned
                self._abandoned.discard(thread)
            if abandoned:
                raise DecodeAbandoned()

    def abandon_overdue(self, timeout_s: float) -> list[threading.Thread]:
        """Give up the decodes running longer than ``timeout_s``; returns their threads.

        A decode that returns at the same moment is either given up (its thread then raises
        ``DecodeAbandoned``) or not returned here, never both.
        """
        now = time.monotonic()
        with self._lock:
            overdue = [thread for thread, since in self._since.items()
                       if now - since > timeout_s and thread not in self._abandoned]
            self._abandoned.update(overdue)
        return overdue
