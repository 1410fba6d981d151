"""Micro-batching: concurrent callers share model calls, each gets its own slice, a lone caller never waits."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from gateway.batching import Coalescer
from inference_worker.batching import BatchResult, MicroBatcher


class LengthModel:
    """A deterministic stand-in computation: probability = len(text) / 100, recording every call's size."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.calls: list[int] = []
        self.delay_s = delay_s

    def __call__(self, texts: list[str]) -> BatchResult:
        self.calls.append(len(texts))
        time.sleep(self.delay_s)
        return BatchResult([len(t) / 100 for t in texts], model="v1", compute_s=self.delay_s, batch_size=len(texts))


def test_worker_batcher_answers_each_caller_with_its_own_slice() -> None:
    model = LengthModel(delay_s=0.01)
    batcher = MicroBatcher(model, window_ms=2, max_batch_size=64)
    answers: dict[int, list[float]] = {}

    def caller(i: int) -> None:
        batcher.announce()
        answers[i] = batcher.predict(["x" * i, "y" * (i + 1)], timeout_s=5, announced=True).probabilities

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(1, 21)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batcher.stop()
    assert answers == {i: [i / 100, (i + 1) / 100] for i in range(1, 21)}
    assert sum(model.calls) == 40
    # Callers that arrived while the model was busy rode together: far fewer calls than callers.
    assert len(model.calls) < 20


def test_worker_batcher_caps_batches_and_runs_oversized_requests_alone() -> None:
    model = LengthModel(delay_s=0.02)
    batcher = MicroBatcher(model, window_ms=2, max_batch_size=8)
    sizes = [1] + [3] * 5 + [20]
    threads = [threading.Thread(target=batcher.predict, args=(["t"] * n, 5)) for n in sizes]
    threads[0].start()
    time.sleep(0.005)  # the first caller leads and keeps the model busy while the rest queue up
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join()
    batcher.stop()
    assert sum(model.calls) == sum(sizes)
    assert model.calls.count(20) == 1
    assert all(size <= 8 for size in model.calls if size != 20)
    assert len(model.calls) < len(sizes)


def test_lone_request_does_not_wait_for_the_window() -> None:
    model = LengthModel()
    batcher = MicroBatcher(model, window_ms=200, max_batch_size=64)
    batcher.predict(["warm"], timeout_s=5)
    started = time.perf_counter()
    batcher.predict(["alone"], timeout_s=5)
    elapsed = time.perf_counter() - started
    batcher.stop()
    assert elapsed < 0.05, f"a lone request waited {elapsed * 1000:.0f} ms with a 200 ms window"


def test_model_error_reaches_every_caller_of_the_batch_and_the_batcher_keeps_serving() -> None:
    calls = {"n": 0}

    def flaky(texts: list[str]) -> BatchResult:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("no champion model is loaded yet")
        return BatchResult([0.5] * len(texts), "v1", 0.0, len(texts))

    batcher = MicroBatcher(flaky, window_ms=1, max_batch_size=8)
    with pytest.raises(RuntimeError, match="no champion"):
        batcher.predict(["a"], timeout_s=5)
    assert batcher.predict(["b"], timeout_s=5).probabilities == [0.5]
    batcher.stop()


def test_gateway_coalescer_merges_requests_while_batches_are_in_flight() -> None:
    sent: list[tuple[list[str], list[str]]] = []

    async def dispatch(texts: list[str], request_ids: list[str]) -> list[dict]:
        sent.append((texts, request_ids))
        await asyncio.sleep(0.01)
        return [{"text": t, "request_id": r} for t, r in zip(texts, request_ids, strict=True)]

    async def scenario() -> list[list[dict]]:
        coalescer = Coalescer(dispatch, window_ms=50, max_batch_size=16, max_in_flight=1)
        return await asyncio.gather(*(coalescer.predict([f"t{i}"], f"r{i}") for i in range(40)))

    answers = asyncio.run(scenario())
    assert [a[0] for a in answers] == [{"text": f"t{i}", "request_id": f"r{i}"} for i in range(40)]
    assert len(sent) < 10 and max(len(texts) for texts, _ in sent) <= 16


def test_gateway_coalescer_sends_a_lone_request_at_once_and_bounds_the_wait() -> None:
    async def dispatch(texts: list[str], request_ids: list[str]) -> list[dict]:
        await asyncio.sleep(0.3 if texts == ["slow"] else 0)
        return [{"text": t} for t in texts]

    async def scenario() -> tuple[float, float]:
        coalescer = Coalescer(dispatch, window_ms=20, max_batch_size=64, max_in_flight=1)
        started = time.perf_counter()
        await coalescer.predict(["alone"], "r0")
        lone = time.perf_counter() - started
        slow = asyncio.create_task(coalescer.predict(["slow"], "r1"))  # takes the only in-flight slot
        await asyncio.sleep(0)
        started = time.perf_counter()
        await coalescer.predict(["queued"], "r2")  # must leave after the window, not after the slow batch
        queued = time.perf_counter() - started
        await slow
        return lone, queued

    lone, queued = asyncio.run(scenario())
    assert lone < 0.05
    assert queued < 0.2, f"a queued request waited {queued * 1000:.0f} ms with a 20 ms window"


def test_gateway_coalescer_fails_every_caller_of_a_failed_batch() -> None:
    async def dispatch(texts: list[str], request_ids: list[str]) -> list[dict]:
        raise ConnectionError("broker down")

    async def scenario() -> list[BaseException | list[dict]]:
        coalescer = Coalescer(dispatch, window_ms=5, max_batch_size=8, max_in_flight=1)
        return await asyncio.gather(*(coalescer.predict([f"t{i}"], f"r{i}") for i in range(5)), return_exceptions=True)

    results = asyncio.run(scenario())
    assert all(isinstance(r, ConnectionError) for r in results)
