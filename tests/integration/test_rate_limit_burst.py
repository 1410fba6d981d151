"""The prediction rate limit under a burst of concurrent requests: one Redis call per burst, every count exact."""

from __future__ import annotations

import asyncio

import pytest
import redis
from fastapi import HTTPException
from starlette.requests import Request

from gateway.ratelimit import PredictRateLimit
from gateway.settings import GatewaySettings
from shared.redis_client import connect_async


def _request(address: str) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/predict", "headers": [], "client": (address, 1)})


def _burst(url: str, settings: GatewaySettings, charges: list[tuple[str, int]]) -> list[int]:
    """Charges every (address, tweets) at once; the HTTP status each gets (200 when allowed)."""

    async def run() -> list[int]:
        client = connect_async(url)
        limit = PredictRateLimit(settings, client)

        async def one(address: str, tweets: int) -> int:
            try:
                await limit.charge(_request(address), tweets)
                return 200
            except HTTPException as exc:
                return exc.status_code

        try:
            return await asyncio.gather(*(one(address, tweets) for address, tweets in charges))
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
