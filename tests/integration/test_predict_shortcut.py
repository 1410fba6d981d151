"""POST /predict answers the same through the gateway's shortcut (`application/json`) as through FastAPI's own route
(any other JSON media type, such as `application/problem+json`, takes that one), over a real gateway and worker."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator

import httpx
import pytest

from local_stack.processes import ManagedProcess
from tests.conftest import start_gateway, wait_ready

pytestmark = pytest.mark.integration

SHORTCUT = "application/json"
FASTAPI_ROUTE = "application/problem+json"

BODIES = [
    b'{"text": "@united thank you, great flight!"}',
    b'{"text": "  the crew was not rude  "}',
    b'{"text": ""}',
    b'{"text": "   "}',
    b'{"text": 42}',
    b"{}",
    b'{"text": "ok", "extra": 1}',
    b'{"text": ',
    b'{"text": "\xff"}',
    b"[1, 2]",
    b"null",
    b'{"text": "' + b"x" * 1001 + b'"}',
]


def answer(url: str, body: bytes, content_type: str, api_key: str | None = None) -> tuple[int, dict, dict]:
    headers = {"Content-Type": content_type} | ({"X-API-Key": api_key} if api_key else {})
    response = httpx.post(url + "/predict", content=body, headers=headers, timeout=30)
    payload = response.json()
    if response.status_code == 200:
        payload.pop("prediction_id")  # one per answer by design
    headers = {name: response.headers.get(name) for name in ("content-type", "retry-after")}
    return response.status_code, payload, headers


@pytest.mark.parametrize("body", BODIES, ids=lambda body: body[:24].decode(errors="replace"))
def test_the_shortcut_answers_as_the_route_does(ready_gateway: str, body: bytes) -> None:
    assert answer(ready_gateway, body, SHORTCUT) == answer(ready_gateway, body, FASTAPI_ROUTE)


def predict_requests(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    found = re.findall(r'^gateway_requests_total\{method="POST",route="/predict",status="200"\} (\S+)$', text, re.M)
    return float(found[0]) if found else 0.0


def test_shortcut_answers_are_counted_under_their_route(ready_gateway: str) -> None:
    before = predict_requests(ready_gateway)
    for _ in range(3):
        assert httpx.post(ready_gateway + "/predict", json={"text": "lost my bag"}, timeout=30).status_code == 200
    assert predict_requests(ready_gateway) - before == 3


# A key of its own: the limit counts per key, so other tests' requests from this address do not spend its allowance.
LIMITED_KEY = secrets.token_hex(16)


@pytest.fixture
def limited_gateway(stack, inference_worker: ManagedProcess) -> Iterator[str]:
    keys = json.dumps([{"name": "shortcut-test", "role": "analyst", "key": LIMITED_KEY}])
    process, url = start_gateway(stack, "gateway-limited", PREDICT_RATE_LIMIT_PER_MINUTE="2", API_KEYS=keys)
    try:
        wait_ready(url)
        yield url
    finally:
        process.stop()


def test_refusals_from_the_predict_path_are_the_same_through_both(limited_gateway: str) -> None:
    body = b'{"text": "delayed again"}'
    assert answer(limited_gateway, body, SHORTCUT, LIMITED_KEY)[0] == 200
    assert answer(limited_gateway, body, FASTAPI_ROUTE, LIMITED_KEY)[0] == 200
    for _ in range(3):  # a new minute's allowance may start between two requests: then spend it and try again
        shortcut = answer(limited_gateway, body, SHORTCUT, LIMITED_KEY)
        route = answer(limited_gateway, body, FASTAPI_ROUTE, LIMITED_KEY)
        if shortcut[0] == route[0] == 429:
            break
    assert shortcut[0] == route[0] == 429
    assert shortcut[2]["retry-after"] is not None and route[2]["retry-after"] is not None
    assert shortcut[1]["detail"].startswith("rate limit of 2 prediction requests per minute reached")
    assert re.sub(r"\d+ s$", "", shortcut[1]["detail"]) == re.sub(r"\d+ s$", "", route[1]["detail"])
