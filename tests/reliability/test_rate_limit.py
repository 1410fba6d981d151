"""Per-caller rate limit on the prediction routes, counted in a real Redis: 429 with Retry-After past the request
limit or the tweet allowance; bodies refused as invalid count as requests too."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import SecretStr

from gateway.app import create_app
from gateway.ratelimit import KEY_PREFIX, WINDOW_S
from gateway.settings import GatewaySettings

pytestmark = [pytest.mark.integration]

LIMIT = 3
TWEET_ALLOWANCE = 10


def limited_client(redis_server, request_limit: int, tweet_allowance: int) -> Iterator[tuple[TestClient, str, str]]:
    analyst_key, admin_key = f"rate-analyst-{uuid.uuid4().hex}", f"rate-admin-{uuid.uuid4().hex}"
    settings = GatewaySettings(
        environment="test",
        redis_url=redis_server[1],
        analyst_api_key=SecretStr(analyst_key),
        admin_api_key=SecretStr(admin_key),
        predict_rate_limit_per_minute=request_limit,
        predict_tweet_limit_per_minute=tweet_allowance,
        predict_timeout_s=2,
    )
    client = redis.Redis.from_url(redis_server[1])
    for key in client.scan_iter(match=KEY_PREFIX + "ip:*"):
        client.delete(key)
    if WINDOW_S - time.time() % WINDOW_S < 5:  # all of this test's calls must fall in one window
        time.sleep(WINDOW_S - time.time() % WINDOW_S + 0.1)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client, analyst_key, admin_key


@pytest.fixture
def limited(redis_server) -> Iterator[tuple[TestClient, str, str]]:
    yield from limited_client(redis_server, request_limit=LIMIT, tweet_allowance=1000)


@pytest.fixture
def tweet_limited(redis_server) -> Iterator[tuple[TestClient, str, str]]:
    yield from limited_client(redis_server, request_limit=100, tweet_allowance=TWEET_ALLOWANCE)


def batch(client: TestClient, size: int, headers: dict[str, str] | None = None):
    texts = [f"@united tweet {i} {uuid.uuid4().hex[:6]}" for i in range(size)]
    return client.post("/predict/batch", json={"texts": texts}, headers=headers or {})


def test_prediction_routes_answer_429_with_retry_after_per_key(limited) -> None:
    client, analyst_key, admin_key = limited
    analyst = {"X-API-Key": analyst_key}
    # Single and batch calls share the caller's allowance; what they answer otherwise (200 or 503) does not matter.
    statuses = [client.post("/predict", json={"text": "on time"}, headers=analyst).status_code for _ in range(2)]
    statuses.append(client.post("/predict/batch", json={"texts": ["a b"]}, headers=analyst).status_code)
    assert 429 not in statuses, statuses
    refused = client.post("/predict", json={"text": "one more"}, headers=analyst)
    assert refused.status_code == 429, refused.text
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW_S + 1
    assert f"{LIMIT} prediction requests per minute" in refused.json()["detail"]
    assert refused.headers["X-Request-ID"]
    # Another key has its own allowance; callers without a key are counted by address.
    assert client.post("/predict", json={"text": "admin"}, headers={"X-API-Key": admin_key}).status_code != 429
    anonymous = [client.post("/predict", json={"text": "anon"}).status_code for _ in range(LIMIT + 1)]
    assert anonymous[-1] == 429 and 429 not in anonymous[:-1], anonymous
    # Made-up keys do not buy a fresh allowance: they count against the address too.
    made_up = client.post("/predict", json={"text": "x"}, headers={"X-API-Key": "made-up"})
    assert made_up.status_code == 429
    # Other routes are not limited.
    assert client.get("/health").status_code == 200


def test_a_batch_costs_its_tweets_against_the_tweet_allowance(tweet_limited) -> None:
    client, analyst_key, _ = tweet_limited
    # 6 of the 10 tweets; whatever the route answers otherwise (200 or 503) does not matter here.
    assert batch(client, 6).status_code != 429
    refused = batch(client, 5)
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= WINDOW_S + 1
    detail = refused.json()["detail"]
    assert f"tweet allowance of {TWEET_ALLOWANCE} tweets per minute" in detail and "send at most 4 tweets" in detail
    # The refused batch cost nothing: the 4 tweets left still go through, then even one more is refused.
    assert batch(client, 4).status_code != 429
    single = client.post("/predict", json={"text": "one more"})
    assert single.status_code == 429 and "tweet allowance" in single.json()["detail"]
    # A batch larger than the whole allowance is told to split, whatever is left.
    too_big = batch(client, TWEET_ALLOWANCE + 1, {"X-API-Key": analyst_key})
    assert too_big.status_code == 429 and f"batches of at most {TWEET_ALLOWANCE}" in too_big.json()["detail"]
    # Another caller (a configured key) has its own allowance.
    assert batch(client, TWEET_ALLOWANCE, {"X-API-Key": analyst_key}).status_code != 429


def test_invalid_bodies_count_against_the_request_limit(limited) -> None:
    client, _, _ = limited
    invalid = [client.post("/predict/batch", json={"texts": []}).status_code for _ in range(LIMIT - 1)]
    undecodable = client.post("/predict", content=b'{"text": "\xff"}', headers={"Content-Type": "application/json"})
    assert invalid == [422] * (LIMIT - 1) and undecodable.status_code == 400, undecodable.text
    # The limit is spent by refused bodies alone: the next request, valid or not, is a 429.
    over_invalid = client.post("/predict", json={"text": ""})
    assert over_invalid.status_code == 429 and over_invalid.headers["Retry-After"], over_invalid.text
    over_valid = client.post("/predict", json={"text": "@united fine flight"})
    assert over_valid.status_code == 429 and "prediction requests per minute" in over_valid.json()["detail"]
