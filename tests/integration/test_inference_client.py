"""The gateway's inference client on a real redis-server: what the predict path costs Redis per request."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from gateway.inference_client import InferenceClient
from local_stack.processes import start_redis
from shared import redis_keys
from shared.redis_client import connect_async

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    # A server of its own: the command counts below must not include other tests' clients.
    process, url = start_redis(tmp_path / "redis")
    try:
        yield url
    finally:
        process.stop()


def liveness_reads(url: str) -> int:
    stats = redis.Redis.from_url(url).info("commandstats")
    return int(stats.get("cmdstat_zrangebyscore", {}).get("calls", 0))


def test_a_burst_of_requests_shares_one_liveness_read(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.zadd(redis_keys.INFERENCE_WORKERS_INDEX, {"w1": time.time()})
    client.set(redis_keys.inference_worker_heartbeat("w1"), json.dumps({"updated_at": time.time()}))

    async def burst() -> list[int]:
        inference = InferenceClient(connect_async(redis_url), worker_max_age_s=10, timeout_s=5)
        try:
            # 64 requests arriving together on a stale cache, as after each cache period under load.
            return await asyncio.gather(*(inference.live_worker_count() for _ in range(64)))
        finally:
            await inference.close()

    before = liveness_reads(redis_url)
    counts = asyncio.run(burst())
    assert counts == [1] * 64
    assert liveness_reads(redis_url) - before == 1


def test_no_worker_is_never_answered_from_the_cache_once_one_is_back(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)

    async def before_and_after_a_worker_starts() -> tuple[int, int]:
        inference = InferenceClient(connect_async(redis_url), worker_max_age_s=10, timeout_s=5, liveness_cache_s=60)
        try:
            none_yet = await inference.live_worker_count()
            # A worker's heartbeat lands (/ready, which reads it fresh, turns green at once).
            client.zadd(redis_keys.INFERENCE_WORKERS_INDEX, {"w1": time.time()})
            client.set(redis_keys.inference_worker_heartbeat("w1"), json.dumps({"updated_at": time.time()}))
            return none_yet, await inference.live_worker_count()
        finally:
            await inference.close()

    assert asyncio.run(before_and_after_a_worker_starts()) == (0, 1)
