"""Each worker thread's decoder thread, so that a decode that hangs is given up, not waited for.

A worker thread owns the socket that the inproc DEALER backend hands requests to, round robin,
whether the worker is free or not. Stuck inside Pillow, it would answer none of them: they would
wait there until their deadline. So a worker thread hands each image to its own decoder thread
and waits at most the hang timeout. A decode that takes longer is abandoned: the worker answers
``decode_timeout`` (the image is the likely cause; sent again, it would hang again), starts a fresh
decoder thread and goes on with the next request. A thread cannot be killed: the abandoned one
exits if its decode ever returns, and its result is thrown away.

Daemon threads, not a ``ThreadPoolExecutor``: its threads are joined at interpreter exit, so one
stuck decode would keep the process from ever stopping. The handoff costs a few tens of
microseconds a request (see README, "Reliability").
"""

from __future__ import annotations

import logging
import queue
import threading
import weakref
from concurrent.futures import Future
from typing import Any, Callable, TypeVar

from .protocol import ErrorCode, RequestError

log = logging.getLogger("model_server.decoder_threads")

T = TypeVar("T")


def _serve(jobs: queue.SimpleQueue) -> None:
    """A decoder thread's loop: one job at a time, until it takes ``None``."""
    while True:
        job = jobs.get()
        if job is None:
            return
        future, function, args, kwargs = job
        del job  # the image is not kept alive until the next one arrives
        try:
            future.set_result(function(*args, **kwargs))
        except BaseException as error:  # raised again in the worker thread that waits for it
            future.set_exception(error)
        del future, function, args, kwargs


class DecoderThread:
    """One daemon thread that runs one worker thread's decodes, one at a time.

    It exits when retired, or when its owner drops this object (a worker thread that ended):
    the thread itself holds only its job queue, never this object.
    """

    def __init__(self, name: str):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=_serve, args=(self._jobs,), name=name, daemon=True)
        self.thread.start()
        weakref.finalize(self, self._jobs.put, None)

    def submit(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        self._jobs.put((future, function, args, kwargs))
        return future

    def retire(self) -> None:
        """Take no more jobs: the thread exits after the one it runs, if that ever ends."""
        self._jobs.put(None)


class DecoderThreads:
    """A decoder thread for every thread that calls ``run``, and the ones abandoned as hung."""

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self._own = threading.local()
        self._lock = threading.Lock()
        self._started = 0
        #: Decodes given up as hung so far.
        self.abandoned = 0
        #: The abandoned decoder threads that may still be running their decode.
        self._stuck: list[threading.Thread] = []

    @property
    def stuck(self) -> int:
        """Abandoned decoder threads still running their decode."""
        with self._lock:
            self._stuck = [thread for thread in self._stuck if thread.is_alive()]
            return len(self._stuck)

    def run(self, decode: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``decode(*args, **kwargs)`` on the calling thread's decoder thread.

        Raises what ``decode`` raises, or ``RequestError`` (``decode_timeout``) if it has not
        returned within ``timeout_s``; the calling thread then has a fresh decoder thread.
        """
        decoder: DecoderThread | None = getattr(self._own, "decoder", None)
        if decoder is None:
            decoder = self._own.decoder = self._new_decoder()
        future = decoder.submit(decode, *args, **kwargs)
        try:
            return future.result(timeout=self.timeout_s)
        except TimeoutError:
            pass
        decoder.retire()
        self._own.decoder = self._new_decoder()
        with self._lock:
            self.abandoned += 1
            self._stuck.append(decoder.thread)
            abandoned = self.abandoned
        log.error("decoding an image took longer than %g s: its request is answered %s and "
                  "%s abandoned (%d decode(s) abandoned so far, %d thread(s) still stuck)",
                  self.timeout_s, ErrorCode.DECODE_TIMEOUT.value, decoder.thread.name,
                  abandoned, self.stuck)
        raise RequestError(
            f"decoding this image took longer than {self.timeout_s:g} s and was given up; "
            "the image itself is the likely cause, so sending it again will not help",
            ErrorCode.DECODE_TIMEOUT,
        )

    def _new_decoder(self) -> DecoderThread:
        with self._lock:
            self._started += 1
            number = self._started
        return DecoderThread(name=f"decoder-{number}")
