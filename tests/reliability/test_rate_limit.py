"""Per-caller rate limit on the prediction routes, counted in a real Redis: 429 with Retry-After past the limit."""

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


@pytest.fixture
def limited(redis_server) -> Iterator[tuple[TestClient, str, str]]:
    analyst_key, admin_key = f"rate-analyst-{uuid.uuid4().hex}", f"rate-admin-{uuid.uuid4().hex}"
    settings = GatewaySettings(
        environment="test",
        redis_url=redis_server[1],
        analyst_api_key=SecretStr(analyst_key),
        admin_api_key=SecretStr(admin_key),
        predict_rate_limit_per_minute=LIMIT,
        predict_timeout_s=2,
    )
    client = redis.Redis.from_url(redis_server[1])
    for key in client.scan_iter(match=KEY_PREFIX + "ip:*"):
        client.delete(key)
    if WINDOW_S - time.time() % WINDOW_S < 5:  # all of this test's calls must fall in one window
        time.sleep(WINDOW_S - time.time() % WINDOW_S + 0.1)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client, analyst_key, admin_key


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
