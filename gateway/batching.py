"""Coalesces concurrent /predict calls of this gateway process into few prediction calls.

Why: every call costs an XADD here, a decode, a reply and a PUBLISH, each a slice of the gateway's one event
loop and of the worker's CPU. Under load, requests that arrive while earlier calls are in flight join one
pending batch, which leaves as a single call; each caller gets its own slice back (its own prediction ids and
the model version that computed them: the worker answers per tweet).

Policy (the worker reads the same way: every call waiting, never waiting for more):
* A request that finds fewer than `max_in_flight` batches in flight leaves at once: a lone request never
  waits for company, so its latency is one call round trip.
* Otherwise it waits in the pending batch, which leaves when a batch in flight comes back, when it holds
  `max_batch_size` tweets, or at the latest `window_ms` after its first request arrived (the bound on the
  extra wait, even if every worker is slow).
* A request of `max_batch_size` tweets or more (/predict/batch) travels alone, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from shared.logging_setup import kv

log = logging.getLogger(__name__)

# Sends one batch: (texts, request id per text, caller's key name per text) -> one answer per text, in order.
Dispatch = Callable[[list[str], list[str], list[str | None]], Awaitable[list[Any]]]
# Called with each request's wait in the pending batch (seconds) and the size of the batch it left in.
Observer = Callable[[float, int], None]


@dataclass
class _Waiting:
    texts: list[str]
    request_id: str
    caller: str | None
    future: asyncio.Future[list[Any]]
    arrived: float = field(default_factory=time.perf_counter)


class Coalescer:
    def __init__(
        self,
        dispatch: Dispatch,
        window_ms: float,
        max_batch_size: int,
        max_in_flight: int,
        observe: Observer | None = None,
    ) -> None:
        if max_batch_size < 1 or max_in_flight < 1:
            raise ValueError("max_batch_size and max_in_flight must be >= 1")
        self._dispatch = dispatch
        self.window_s = max(0.0, window_ms) / 1000.0
        self.max_batch_size = max_batch_size
        self.max_in_flight = max_in_flight
        self._observe = observe
        self._pending: list[_Waiting] = []
        self._pending_size = 0
        self._in_flight = 0
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def predict(self, texts: list[str], request_id: str, caller: str | None = None) -> list[Any]:
        """Answers for `texts`, in order; raises whatever the dispatch of its batch raised."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(list(texts), request_id, caller, loop.create_future())
        if len(texts) >= self.max_batch_size or (not self._pending and self._in_flight < self.max_in_flight):
            # Leaves alone and at once, on the caller's own task: no hand-off to another task and back.
            self._in_flight += 1
            await self._run([waiting])
            return waiting.future.result()
        if self._pending_size + len(texts) > self.max_batch_size:
            self._flush()
        self._pending.append(waiting)
        self._pending_size += len(texts)
        if self._pending_size >= self.max_batch_size or self._in_flight < self.max_in_flight:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.window_s, self._flush)
        return await waiting.future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        batch, self._pending, self._pending_size = self._pending, [], 0
        self._launch(batch)

    def _launch(self, batch: list[_Waiting]) -> None:
        self._in_flight += 1
        task = asyncio.create_task(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[_Waiting]) -> None:
        texts = [text for item in batch for text in item.texts]
        request_ids = [item.request_id for item in batch for _ in item.texts]
        callers = [item.caller for item in batch for _ in item.texts]
        if self._observe is not None:
            now = time.perf_counter()
            for item in batch:
                self._observe(now - item.arrived, len(texts))
        try:
            answers = await self._dispatch(texts, request_ids, callers)
            if len(answers) != len(texts):
                raise RuntimeError(f"the worker answered {len(answers)} predictions for {len(texts)} tweets")
        except BaseException as exc:
            for item in batch:
                if item.future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    item.future.cancel()
                else:
                    item.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            log.debug("batch failed %s", kv(requests=len(batch), tweets=len(texts), error=exc))
        else:
            offset = 0
            for item in batch:
                if not item.future.done():  # its caller may have been cancelled (client went away)
                    item.future.set_result(answers[offset : offset + len(item.texts)])
                offset += len(item.texts)
        finally:
            self._in_flight -= 1
            # A slot is free: whatever gathered meanwhile leaves now rather than at the window's end.
            with contextlib.suppress(RuntimeError):
                self._flush()
