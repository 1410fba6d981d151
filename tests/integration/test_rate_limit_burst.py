"""The prediction rate limit under a burst of concurrent requests: one Redis call per burst, every count exact; after
a caller's first contact, charges decided in the process and their counts synced to Redis for the other processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis
from fastapi import HTTPException
from starlette.requests import Request

from gateway.ratelimit import SYNC_S, PredictRateLimit
from gateway.settings import GatewaySettings
from local_stack.processes import start_redis
from shared.redis_client import connect_async


def _request(address: str) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/predict", "headers": [], "client": (address, 1)})


async def _status(limit: PredictRateLimit, address: str, tweets: int) -> int:
    try:
        await limit.charge(_request(address), tweets)
        return 200
    except HTTPException as exc:
        return exc.status_code


def _burst(url: str, settings: GatewaySettings, charges: list[tuple[str, int]]) -> list[int]:
    """Charges every (address, tweets) at once; the HTTP status each gets (200 when allowed)."""

    async def run() -> list[int]:
        client = connect_async(url)
        limit = PredictRateLimit(settings, client)

        try:
            return await asyncio.gather(*(_status(limit, address, tweets) for address, tweets in charges))
        finally:
            await client.aclose()

    return asyncio.run(run())


def _eval_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(stats.get(name, {}).get("calls", 0)) for name in ("cmdstat_evalsha", "cmdstat_eval"))


@pytest.fixture
def settings() -> GatewaySettings:
    return GatewaySettings(environment="test", predict_rate_limit_per_minute=50, predict_tweet_limit_per_minute=100)


def test_a_burst_shares_redis_calls_and_allows_exactly_the_limit(redis_server, settings) -> None:
    _, url = redis_server
    client = redis.Redis.from_url(url)
    client.delete(*client.keys("ratelimit:predict:ip:10.9.9.*") or ["none"])
    calls_before = _eval_calls(client)

    statuses = _burst(url, settings, [("10.9.9.1", 0)] * 120 + [("10.9.9.2", 0)] * 10)

    assert statuses[:120].count(200) == 50 and statuses[:120].count(429) == 70
    assert statuses[120:] == [200] * 10, "another caller's allowance is its own"
    calls = _eval_calls(client) - calls_before
    assert calls < 10, f"130 concurrent charges took {calls} Redis calls: they should share a few"


def test_tweets_past_the_allowance_are_refused_whole_within_a_burst(redis_server, settings) -> None:
    _, url = redis_server
    client = redis.Redis.from_url(url)
    client.delete(*client.keys("ratelimit:predict:ip:10.9.8.*") or ["none"])

    # 30 tweets each against an allowance of 100: three fit, the rest are refused and cost no tweets.
    statuses = _burst(url, settings, [("10.9.8.1", 30)] * 6 + [("10.9.8.1", 10)])

    assert statuses.count(200) == 4 and statuses[-1] == 200, statuses
    key = next(iter(client.keys("ratelimit:predict:ip:10.9.8.1:*")))
    assert int(client.hget(key, "tweets")) == 100


def test_after_a_first_contact_charges_cost_no_redis_call_each_and_reach_the_other_processes(
    tmp_path: Path, settings
) -> None:
    process, url = start_redis(tmp_path / "redis")  # its own: the commands counted are this test's alone
    try:
        client = redis.Redis.from_url(url)

        async def run() -> tuple[list[int], int, int]:
            first, other = connect_async(url), connect_async(url)
            this_process, other_process = PredictRateLimit(settings, first), PredictRateLimit(settings, other)
            try:
                # One after another, each charge awaited: without the ledger each would be a Redis call of its own.
                statuses = [await _status(this_process, "10.9.7.1", 1) for _ in range(80)]
                await asyncio.sleep(SYNC_S * 4)
                hincrby_calls = int(client.info("commandstats").get("cmdstat_hincrby", {}).get("calls", 0))
                return statuses, hincrby_calls, await _status(other_process, "10.9.7.1", 1)
            finally:
                await this_process.close()
                await first.aclose()
                await other.aclose()

        statuses, hincrby_calls, other_status = asyncio.run(run())

        assert statuses == [200] * 50 + [429] * 30, "the ledger allows exactly the request limit"
        assert hincrby_calls < 10, f"80 charges took {hincrby_calls} HINCRBY: they should be synced together"
        key = next(iter(client.keys("ratelimit:predict:ip:10.9.7.1:*")))
        assert int(client.hget(key, "requests")) == 81 and int(client.hget(key, "tweets")) == 50
        assert other_status == 429, "another process sees the synced counts at its first contact"
    finally:
        process.stop()
