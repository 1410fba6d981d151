"""Micro-batching inside one worker process: concurrent tasks' tweets run through the model as one call.

Design (the whole serving path, gateway included):

* The gateway (`gateway/batching.py`) coalesces concurrent HTTP requests into one Celery task, so the
  per-message cost of Celery (~1.4 ms round trip, ~900 trivial tasks/s on 2 cores) is paid per batch,
  not per tweet. That is what lifts throughput under load.
* This worker runs Celery's `threads` pool: several tasks (from several gateway processes, or batches that
  the gateway sent back to back) are in flight at once. Their threads hand their tweets to one batcher
  thread per process, which runs them through the model as one call and answers each task with its own
  slice. One thread owns the model, so a batch never mixes two model versions and answers switch version
  exactly once on a hot reload.
* Waiting policy, the same on both sides: never wait when nobody else is coming. The batcher drains what is
  queued; it waits up to `batch_window_ms` for more only while other tasks have started and not yet handed
  in their tweets. A lone request therefore pays no window at all; under load, requests that arrive while
  the model computes form the next batch ("continuous batching"), capped at `max_batch_size` tweets.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from shared.logging_setup import kv

log = logging.getLogger(__name__)

# Runs one model call over all the texts of a batch; returns one result per text, in order.
BatchRunner = Callable[[list[str]], "BatchResult"]


@dataclass(frozen=True)
class BatchResult:
    """One model call's outcome: per-text probabilities plus the model that computed all of them."""

    probabilities: list[float]
    model: object  # the serving model reference the whole batch used
    compute_s: float
    batch_size: int


@dataclass
class _Pending:
    texts: list[str]
    future: Future = field(default_factory=Future)
    queued_at: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class Slice:
    """What one caller gets back: its own probabilities, the model that computed them, and the batch it rode in."""

    probabilities: list[float]
    model: object
    batch_size: int
    compute_s: float
    wait_s: float


class MicroBatcher:
    """Coalesces the texts of concurrent callers into model calls of at most `max_batch_size` texts."""

    def __init__(self, run_batch: BatchRunner, window_ms: float, max_batch_size: int, name: str = "batcher") -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self._run_batch = run_batch
        self.window_s = max(0.0, window_ms) / 1000.0
        self.max_batch_size = max_batch_size
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._announced = 0  # callers that started and have not submitted yet: worth waiting for
        self._announced_lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # --- caller side -----------------------------------------------------------------------------

    def announce(self) -> None:
        """A caller is about to submit: lets a forming batch wait (up to the window) for it."""
        with self._announced_lock:
            self._announced += 1

    def submit(self, texts: Sequence[str]) -> Future:
        """Queue texts for the next batch; the future resolves to a `Slice` (or raises the model's error)."""
        if self._stopped.is_set():
            raise RuntimeError("the batcher is stopped")
        pending = _Pending(list(texts))
        self._queue.put(pending)
        return pending.future

    def predict(self, texts: Sequence[str], timeout_s: float | None = None) -> Slice:
        """Blocking call for one caller thread: announced first, so that a forming batch may wait for it."""
        self.announce()
        try:
            future = self.submit(texts)
        finally:
            with self._announced_lock:
                self._announced -= 1
        return future.result(timeout=timeout_s)

    def stop(self) -> None:
        self._stopped.set()
        self._queue.put(None)
        self._thread.join(timeout=5)

    # --- batcher thread --------------------------------------------------------------------------

    def _others_coming(self) -> bool:
        with self._announced_lock:
            return self._announced > 0

    def _gather(self, first: _Pending) -> tuple[list[_Pending], _Pending | None]:
        """The batch that starts with `first`, plus an item that did not fit (it starts the next batch)."""
        batch = [first]
        size = len(first.texts)
        deadline = time.perf_counter() + self.window_s
        while size < self.max_batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.perf_counter()
                if remaining <= 0 or not self._others_coming():
                    break
                try:
                    # Short naps: re-check whether anyone is still coming rather than sleep out the window.
                    item = self._queue.get(timeout=min(remaining, 0.0005))
                except queue.Empty:
                    continue
            if item is None:
                self._stopped.set()
                break
            if size + len(item.texts) > self.max_batch_size:
                return batch, item
            batch.append(item)
            size += len(item.texts)
        return batch, None

    def _loop(self) -> None:
        carried: _Pending | None = None
        while True:
            first = carried if carried is not None else self._queue.get()
            carried = None
            if first is None:
                break
            batch, carried = self._gather(first)
            self._run(batch)
            if self._stopped.is_set() and carried is None:
                break
        self._fail_queued(RuntimeError("the inference worker is shutting down"))

    def _run(self, batch: list[_Pending]) -> None:
        texts = [text for item in batch for text in item.texts]
        started = time.perf_counter()
        try:
            result = self._run_batch(texts)
        except Exception as exc:  # every caller of this batch learns why; the thread keeps serving
            log.warning("batch failed %s", kv(batch_size=len(texts), error=f"{exc.__class__.__name__}: {exc}"))
            for item in batch:
                item.future.set_exception(exc)
            return
        offset = 0
        for item in batch:
            count = len(item.texts)
            item.future.set_result(
                Slice(
                    probabilities=result.probabilities[offset : offset + count],
                    model=result.model,
                    batch_size=len(texts),
                    compute_s=result.compute_s,
                    wait_s=started - item.queued_at,
                )
            )
            offset += count

    def _fail_queued(self, exc: Exception) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None and not item.future.done():
                item.future.set_exception(exc)
