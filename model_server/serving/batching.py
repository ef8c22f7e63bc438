"""Dynamic batching: images that arrive together share one forward pass of the model.

Workers decode images in parallel, each in its own thread, through the ``Batcher``
(``decode_and_submit``); its one thread stacks whatever is waiting (at most ``max_batch`` images)
and runs the model once. ResNet50 on a CPU does a batch in less time than its images one by one
(docs/benchmark.md says how much less), so under load this is most of the throughput there is.

It never makes a lone request wait for company: the batcher waits (at most ``max_delay_ms``) for
more images only when company is known to be coming: while some worker is still decoding one, or
while the clients of recent batches have not all sent their next image yet (they send it as soon as
they have their answers). Without the second rule, 8 clients lock into batches of 1 and 7: the one
image that came back first always finds the model free and goes alone. The rule counts the
answered clients that have not come back yet; it does not compare the images queued with the last
batch's size. With that comparison, 8 clients that once split into two halves of 4 stayed split:
each half, queued while the other half's batch ran, was as large as that batch, so the batcher
did not wait for the other half.

The batcher alone counts the images being decoded, because one call both decodes and queues:
a caller cannot forget to say that an image it announced will not come, and no image is counted
as coming after it was queued.

Images whose deadline passed while they waited are dropped before the batch runs (their client
has given up). What hangs is given up by the worker pool's supervisor, which calls two methods:
- ``replace_if_hung``: a batch that runs longer than the hang timeout. Its images get a
  ``worker_lost`` error and a new batcher thread takes over the queue; the old thread's late
  result is thrown away.
- ``abandon_overdue_decodes``: a decode that runs longer than the hang timeout. The supervisor
  answers its request ``decode_timeout`` and serves the worker's socket with a new thread. A
  thread cannot be killed: if the stuck decode ever returns, ``decode_and_submit`` raises
  ``DecodeAbandoned`` in it, and it leaves without touching the socket or the batcher again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass

import numpy as np

from ..models.classifier import Classifier
from ..protocol import ErrorCode, RequestError

log = logging.getLogger(__name__)

#: How often the batcher thread wakes up to check whether it should stop.
IDLE_POLL_S = 0.1


class DecodeAbandoned(BaseException):
    """Raised in a worker thread whose decode was given up: its request is answered already.

    A ``BaseException``, so that no ``except Exception`` on the way turns it into a reply.
    """


@dataclass(frozen=True)
class BatchResult:
    """One image's share of a batch: its probabilities and how the batch went."""

    probabilities: np.ndarray
    batch_size: int
    queued_ms: float
    preprocess_ms: float
    inference_ms: float


@dataclass
class _Item:
    pixels: np.ndarray
    future: Future[BatchResult]
    submitted: float
    #: ``time.monotonic()`` after which nobody waits for this image's result.
    deadline: float | None = None


def _settle(
    future: Future[BatchResult], result: BatchResult | None = None, error: BaseException | None = None,
) -> None:
    """Set a future unless it is already set (a hung batch's futures are failed by the supervisor)."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            assert result is not None, "settled with neither a result nor an error"
            future.set_result(result)
    except InvalidStateError:
        pass


class Batcher:
    """Collects decoded images from worker threads and runs them through the model in batches."""

    def __init__(self, classifier: Classifier, max_batch: int, max_delay_ms: float):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.max_batch = max_batch
        self.max_delay_s = max_delay_ms / 1000.0
        self._classifier = classifier
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        #: The threads decoding an image, since when (``time.monotonic()``); and those given up.
        self._decoding: dict[threading.Thread, float] = {}
        self._abandoned: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        #: The thread that runs batches now; a hung one is replaced and its generation retired.
        self._generation = 0
        self._thread = self._new_thread()
        #: The batch being run and since when (``time.monotonic()``), for the supervisor.
        self._running: list[_Item] = []
        self._running_since: float | None = None
        self._batch_sizes: dict[int, int] = {}
        self.replaced_threads = 0
        #: Batcher threads replaced while their forward pass hung (they may still be in it).
        self._hung_threads: list[threading.Thread] = []
        #: Images answered by recent batches whose clients may not have sent their next yet: each
        #: answer adds one, each image that comes (decoded here or elsewhere) takes one away.
        self._not_back = 0
        self._last_batch_done = 0.0

    @property
    def batch_sizes(self) -> dict[int, int]:
        """Forward passes so far by their number of images."""
        with self._lock:
            return dict(self._batch_sizes)

    def _new_thread(self) -> threading.Thread:
        generation = self._generation
        return threading.Thread(target=self._run, args=(generation,), name=f"batcher-{generation}",
                                daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the batch being run; images still queued get an error, not silence."""
        self._stop.set()
        self._thread.join(timeout=10)
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            _settle(item.future, error=RuntimeError("the model server is stopping"))

    def replace_if_hung(self, hang_timeout_s: float) -> bool:
        """If the batch being run has taken longer than ``hang_timeout_s``, give it up.

        Its images get a ``worker_lost`` error, and a new thread takes over the queue. Returns
        whether it did. The hung thread cannot be killed; when it returns, it finds itself retired.
        """
        with self._lock:
            since = self._running_since
            if since is None or time.monotonic() - since <= hang_timeout_s:
                return False
            hung, self._running, self._running_since = self._running, [], None
            self._hung_threads.append(self._thread)
            self._generation += 1
            self._thread = self._new_thread()
            self.replaced_threads += 1
        log.error("a forward pass of %d image(s) has run for more than %g s: giving it up, "
                  "a new batcher thread takes over", len(hung), hang_timeout_s)
        for item in hung:
            _settle(item.future, error=RequestError(
                f"the model did not finish this image's batch within {hang_timeout_s:g} s; "
                "the worker was replaced, try again", ErrorCode.WORKER_LOST))
        self._thread.start()
        return True

    def submit(self, pixels: np.ndarray, deadline: float | None = None) -> Future[BatchResult]:
        """Queue one 224×224×3 uint8 image decoded elsewhere; the future's result is a ``BatchResult``.

        Past ``deadline`` (``time.monotonic()``) the image is dropped unrun, with a
        ``deadline_exceeded`` error.
        """
        future: Future[BatchResult] = Future()
        with self._lock:
            self._one_came_back()
            self._queue.put(_Item(pixels, future, time.perf_counter(), deadline))
        return future

    def _one_came_back(self) -> None:
        """An image came (the lock is held): one fewer client of a recent batch to wait for."""
        self._not_back = max(0, self._not_back - 1)

    def decode_and_submit(
        self, decode: Callable[[], np.ndarray], deadline: float | None = None,
    ) -> Future[BatchResult]:
        """Run ``decode`` in this thread, then queue its pixels as ``submit`` does.

        While it runs, a batch may wait for this image. If it raises, the error is raised here and
        nothing is queued. If the decode was given up meanwhile (``abandon_overdue_decodes``),
        ``DecodeAbandoned`` is raised instead, whatever the decode did.
        """
        thread = threading.current_thread()
        with self._lock:
            self._one_came_back()
            self._decoding[thread] = time.monotonic()
        try:
            pixels = decode()
        except BaseException:
            with self._lock:
                abandoned = self._decode_ended(thread)
            if abandoned:
                raise DecodeAbandoned() from None
            raise
        future: Future[BatchResult] = Future()
        with self._lock:  # one step: at every moment the image is either coming or queued
            abandoned = self._decode_ended(thread)
            if not abandoned:
                self._queue.put(_Item(pixels, future, time.perf_counter(), deadline))
        if abandoned:
            raise DecodeAbandoned()
        return future

    def _decode_ended(self, thread: threading.Thread) -> bool:
        """Forget ``thread``'s decode (the lock is held); returns whether it had been given up."""
        del self._decoding[thread]
        abandoned = thread in self._abandoned
        self._abandoned.discard(thread)
        return abandoned

    def abandon_overdue_decodes(self, timeout_s: float) -> list[threading.Thread]:
        """Give up the decodes running longer than ``timeout_s``; returns their threads.

        Each is returned once. A decode that returns at the same moment is either given up (its
        thread then raises ``DecodeAbandoned``) or not returned here, never both. A batch no
        longer waits for the images of the decodes given up.
        """
        now = time.monotonic()
        with self._lock:
            overdue = [thread for thread, since in self._decoding.items()
                       if now - since > timeout_s and thread not in self._abandoned]
            self._abandoned.update(overdue)
        return overdue

    def still_stuck(self) -> tuple[int, int]:
        """Forward passes and decodes given up as hung whose threads have not returned yet.

        A thread cannot be killed: while one is stuck it holds its memory, maybe a core, and
        maybe the runtime's locks, which only a new process gives back (``/livez`` says so).
        """
        with self._lock:
            self._hung_threads = [thread for thread in self._hung_threads if thread.is_alive()]
            return len(self._hung_threads), len(self._abandoned)

    def _company_expected(self) -> bool:
        """A worker is decoding an image, or clients of recent batches may still come back."""
        with self._lock:
            if len(self._decoding) > len(self._abandoned):
                return True
            returning = self._not_back > 0
        return returning and time.perf_counter() - self._last_batch_done < self.max_delay_s

    def _collect(self, first: _Item) -> list[_Item]:
        batch = [first]
        deadline = time.perf_counter() + self.max_delay_s
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.perf_counter()
            if remaining <= 0 or not self._company_expected():
                break
            try:
                batch.append(self._queue.get(timeout=min(remaining, 0.0005)))
            except queue.Empty:
                pass
        return batch

    def _drop_expired(self, batch: list[_Item]) -> list[_Item]:
        now = time.monotonic()
        live = []
        for item in batch:
            if item.deadline is not None and now > item.deadline:
                _settle(item.future, error=RequestError(
                    "the request's deadline passed while it waited for the model; "
                    "it was not computed", ErrorCode.DEADLINE_EXCEEDED))
            else:
                live.append(item)
        return live

    def _run(self, generation: int) -> None:
        while not self._stop.is_set() and generation == self._generation:
            try:
                first = self._queue.get(timeout=IDLE_POLL_S)
            except queue.Empty:
                continue
            batch = self._drop_expired(self._collect(first))
            if not batch:
                continue
            with self._lock:
                self._running, self._running_since = batch, time.monotonic()
            started = time.perf_counter()
            try:
                pixels = np.stack([item.pixels for item in batch])
                preprocessed = self._classifier.preprocess(pixels)
                ready = time.perf_counter()
                probabilities = self._classifier.infer(preprocessed)
                done = time.perf_counter()
            except Exception as error:  # every waiting worker hears of it
                log.exception("the model failed on a batch of %d", len(batch))
                for item in batch:
                    _settle(item.future, error=error)
                continue
            finally:
                with self._lock:
                    if generation == self._generation:
                        self._running, self._running_since = [], None
            size = len(batch)
            with self._lock:
                if generation != self._generation:
                    log.warning("a hung forward pass of %d image(s) finished after all; its "
                                "result is thrown away", size)
                    return
                self._batch_sizes[size] = self._batch_sizes.get(size, 0) + 1
                now = time.perf_counter()
                if now - self._last_batch_done > self.max_delay_s:
                    self._not_back = 0  # who has not come back by now is not waited for any more
                self._not_back = min(self._not_back + size, self.max_batch)
                self._last_batch_done = now
            for index, item in enumerate(batch):
                _settle(item.future, BatchResult(
                    probabilities=probabilities[index], batch_size=size,
                    queued_ms=(started - item.submitted) * 1000.0,
                    preprocess_ms=(ready - started) * 1000.0,
                    inference_ms=(done - ready) * 1000.0,
                ))
