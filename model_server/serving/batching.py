"""Dynamic batching: images that arrive together share one forward pass of the model.

Workers decode images in parallel and hand the pixels to the ``Batcher``; its one thread stacks
whatever is waiting (at most ``max_batch`` images) and runs the model once. ResNet50 on a CPU does
a batch in less time than its images one by one (the README's benchmark says how much less), so
under load this is most of the throughput there is.

It never makes a lone request wait for company: the batcher waits (at most ``max_delay_ms``) for
more images only when company is known to be coming: while some worker is still decoding one, or
right after a batch of several, whose clients send their next images as soon as they have their
answers. Without the second rule, 8 clients lock into batches of 1 and 7: the one image that came
back first always finds the model free and goes alone.

Images whose deadline passed while they waited are dropped before the batch runs (their client
has given up). A batch that runs longer than the hang timeout is given up: its images get a
``worker_lost`` error and a new batcher thread takes over the queue; the old thread's late result
is thrown away (``replace_if_hung``, called by the worker pool's supervisor).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass

import numpy as np

from ..models.classifier import Classifier
from ..protocol import ErrorCode, RequestError

log = logging.getLogger(__name__)

#: How often the batcher thread wakes up to check whether it should stop.
IDLE_POLL_S = 0.1


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
    future: Future
    submitted: float
    #: ``time.monotonic()`` after which nobody waits for this image's result.
    deadline: float | None = None


def _settle(future: Future, result: BatchResult | None = None, error: BaseException | None = None) -> None:
    """Set a future unless it is already set (a hung batch's futures are failed by the supervisor)."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
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
        self._decoding = 0
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
        self._last_batch_size = 0
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

    def decoding_started(self) -> None:
        """A worker has begun decoding an image: its pixels are coming soon."""
        with self._lock:
            self._decoding += 1

    def decoding_failed(self) -> None:
        """The image a worker was decoding will not come (it was refused)."""
        with self._lock:
            self._decoding -= 1

    def submit(self, pixels: np.ndarray, deadline: float | None = None) -> Future:
        """Queue one decoded 224×224×3 uint8 image; the future's result is a ``BatchResult``.

        Past ``deadline`` (``time.monotonic()``) the image is dropped unrun, with a
        ``deadline_exceeded`` error.
        """
        future: Future = Future()
        with self._lock:
            self._decoding -= 1
            self._queue.put(_Item(pixels, future, time.perf_counter(), deadline))
        return future

    def _company_expected(self, collected: int) -> bool:
        """A worker is decoding an image, or clients of the last batch may still come back."""
        with self._lock:
            if self._decoding > 0:
                return True
        returning = collected < self._last_batch_size
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
            if remaining <= 0 or not self._company_expected(len(batch)):
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
                self._last_batch_size, self._last_batch_done = size, time.perf_counter()
            for index, item in enumerate(batch):
                _settle(item.future, BatchResult(
                    probabilities=probabilities[index], batch_size=size,
                    queued_ms=(started - item.submitted) * 1000.0,
                    preprocess_ms=(ready - started) * 1000.0,
                    inference_ms=(done - ready) * 1000.0,
                ))
