"""Micro-batching inside one worker process: concurrent tasks' tweets run through the model as one call.

Design (the whole serving path, gateway included):

* The gateway (`gateway/batching.py`) coalesces concurrent HTTP requests into one Celery task, so the
  per-message cost of Celery (~1.4 ms round trip, ~900 trivial tasks/s on 2 cores) is paid per batch,
  not per tweet. That is what lifts throughput under load.
* This worker runs Celery's `threads` pool: several tasks (from several gateway processes, or batches that
  the gateway sent back to back) are in flight at once. Their tweets are combined into one model
  call, which runs them through the model at once and answers each task with its own slice.
* No batcher thread: the task threads combine. A thread that finds no model call running runs one itself
  (its own tweets plus whatever is queued); threads that arrive meanwhile queue their tweets and wait; when
  the call ends, the leader answers everyone in it and hands the lead to the first thread still queued.
  A lone request thus runs on its own thread with no hand-off (thread hops cost most on a busy 2-core box),
  and one call at a time owns the model, so a batch never mixes two model versions.
* Waiting policy, the same on both sides: never wait when nobody else is coming. The leader takes what is
  queued; it waits up to `batch_window_ms` for more only while other tasks have started and not yet handed
  in their tweets. A lone request therefore pays no window at all; under load, requests that arrive while
  the model computes form the next batch ("continuous batching"), capped at `max_batch_size` tweets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
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
    wake: threading.Event = field(default_factory=threading.Event)  # answered, or promoted to leader
    promoted: bool = False


@dataclass(frozen=True)
class Slice:
    """What one caller gets back: its own probabilities, the model that computed them, and the batch it rode in."""

    probabilities: list[float]
    model: object
    batch_size: int
    compute_s: float
    wait_s: float


class MicroBatcher:
    """Combines the texts of concurrent caller threads into model calls of at most `max_batch_size` texts."""

    def __init__(self, run_batch: BatchRunner, window_ms: float, max_batch_size: int) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self._run_batch = run_batch
        self.window_s = max(0.0, window_ms) / 1000.0
        self.max_batch_size = max_batch_size
        self._lock = threading.Lock()
        self._queue: deque[_Pending] = deque()
        self._leading = False  # invariant: queued callers always have a leader (running or promoted)
        self._announced = 0  # callers that started and have not queued yet: worth waiting for
        self._stopped = False

    def announce(self) -> None:
        """A caller is about to submit: lets a forming batch wait (up to the window) for it."""
        with self._lock:
            self._announced += 1

    def predict(self, texts: Sequence[str], timeout_s: float | None = None, announced: bool = False) -> Slice:
        """This caller's answers; runs the model on this thread when no call is running. Raises the model's error."""
        pending = _Pending(list(texts))
        with self._lock:
            if announced:
                self._announced -= 1
            if self._stopped:
                raise RuntimeError("the inference worker is shutting down")
            self._queue.append(pending)
            lead = not self._leading
            self._leading = True
        if not lead:
            deadline = None if timeout_s is None else time.monotonic() + timeout_s
            while not pending.future.done():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"no model call answered within {timeout_s} s")
                pending.wake.wait(remaining)
                pending.wake.clear()
                if pending.promoted and not pending.future.done():
                    pending.promoted = False
                    break
        if not pending.future.done():
            self._lead()
        return pending.future.result(timeout=0)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True

    # --- the leader ------------------------------------------------------------------------------

    def _take(self) -> list[_Pending]:
        """The next batch from the head of the queue (the leader's own request is the head)."""
        deadline = time.perf_counter() + self.window_s
        while True:
            with self._lock:
                size = sum(len(item.texts) for item in self._queue)
                if size >= self.max_batch_size or self._announced <= 0 or time.perf_counter() >= deadline:
                    batch = [self._queue.popleft()]
                    size = len(batch[0].texts)
                    while self._queue and size + len(self._queue[0].texts) <= self.max_batch_size:
                        item = self._queue.popleft()
                        batch.append(item)
                        size += len(item.texts)
                    return batch
            time.sleep(0.0002)  # short naps: re-check whether the announced callers have arrived

    def _lead(self) -> None:
        batch = self._take()
        try:
            self._run(batch)
        finally:
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.promoted = True
                    successor.wake.set()
                else:
                    self._leading = False

    def _run(self, batch: list[_Pending]) -> None:
        texts = [text for item in batch for text in item.texts]
        started = time.perf_counter()
        try:
            result = self._run_batch(texts)
        except Exception as exc:  # every caller of this batch learns why; the next leader keeps serving
            log.warning("batch failed %s", kv(batch_size=len(texts), error=f"{exc.__class__.__name__}: {exc}"))
            for item in batch:
                item.future.set_exception(exc)
                item.wake.set()
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
            item.wake.set()
            offset += count
