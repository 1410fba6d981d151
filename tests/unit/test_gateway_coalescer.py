"""The gateway's coalescer: concurrent callers share calls, each gets its own slice, a lone caller never waits."""

from __future__ import annotations

import asyncio
import time

from gateway.batching import Coalescer


def test_gateway_coalescer_merges_requests_while_batches_are_in_flight() -> None:
    sent: list[tuple[list[str], list[str]]] = []

    async def dispatch(texts: list[str], request_ids: list[str], callers: list[str | None]) -> list[dict]:
        sent.append((texts, request_ids))
        await asyncio.sleep(0.01)
        return [{"text": t, "request_id": r, "caller": c} for t, r, c in zip(texts, request_ids, callers, strict=True)]

    async def scenario() -> list[list[dict]]:
        coalescer = Coalescer(dispatch, window_ms=50, max_batch_size=16, max_in_flight=1)
        return await asyncio.gather(*(coalescer.predict([f"t{i}"], f"r{i}", f"c{i % 3}") for i in range(40)))

    answers = asyncio.run(scenario())
    assert [a[0] for a in answers] == [
        {"text": f"t{i}", "request_id": f"r{i}", "caller": f"c{i % 3}"} for i in range(40)
    ]
    assert len(sent) < 10 and max(len(texts) for texts, _ in sent) <= 16


def test_gateway_coalescer_sends_a_lone_request_at_once_and_bounds_the_wait() -> None:
    async def dispatch(texts: list[str], request_ids: list[str], callers: list[str | None]) -> list[dict]:
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
    async def dispatch(texts: list[str], request_ids: list[str], callers: list[str | None]) -> list[dict]:
        raise ConnectionError("broker down")

    async def scenario() -> list[BaseException | list[dict]]:
        coalescer = Coalescer(dispatch, window_ms=5, max_batch_size=8, max_in_flight=1)
        return await asyncio.gather(*(coalescer.predict([f"t{i}"], f"r{i}") for i in range(5)), return_exceptions=True)

    results = asyncio.run(scenario())
    assert all(isinstance(r, ConnectionError) for r in results)
