"""Micro-batching over real processes: concurrent callers each get their own answer, id and record."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import redis

from shared import redis_keys
from shared.prediction_record import decode_record

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_concurrent_requests_each_get_their_own_recorded_prediction(ready_gateway: str, stack) -> None:
    texts = [f"@united flight {i} {'was great' if i % 2 else 'was awful'}" for i in range(60)]

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=ready_gateway, timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post("/predict", json={"text": t}, headers={"X-Request-ID": f"req-{i}"})
                    for i, t in enumerate(texts)
                )
            )

    responses = asyncio.run(fire())
    assert [r.status_code for r in responses] == [200] * len(texts)
    bodies = [r.json() for r in responses]
    assert len({b["prediction_id"] for b in bodies}) == len(texts)
    store = redis.Redis.from_url(stack.redis_url)
    for i, (text, body) in enumerate(zip(texts, bodies, strict=True)):
        record = decode_record(body["prediction_id"], store.get(redis_keys.prediction(body["prediction_id"])))
        # Coalesced into shared tasks, yet each record points to its own request and text.
        assert record.text == text and record.request_id == f"req-{i}"
        assert record.model_version == body["model_version"]


def test_batch_endpoint_answers_in_order_and_names_bad_items(ready_gateway: str) -> None:
    texts = ["@united thank you so much!", "@united worst delay ever", "@united ok"] * 5
    response = httpx.post(ready_gateway + "/predict/batch", json={"texts": texts}, timeout=30)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == len(texts)
    single = httpx.post(ready_gateway + "/predict", json={"text": texts[1]}, timeout=30).json()
    assert predictions[1]["probability_positive"] == pytest.approx(single["probability_positive"], abs=1e-6)
    assert predictions[1]["probability_positive"] == pytest.approx(predictions[4]["probability_positive"], abs=1e-6)

    bad = httpx.post(ready_gateway + "/predict/batch", json={"texts": ["fine", "   ", "fine"]}, timeout=10)
    assert bad.status_code == 422 and "texts[1]" in bad.json()["message"]


def test_gateway_metrics_are_served_in_prometheus_format(ready_gateway: str) -> None:
    httpx.post(ready_gateway + "/predict", json={"text": "@united great crew"}, timeout=30)
    response = httpx.get(ready_gateway + "/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert 'gateway_requests_total{method="POST",route="/predict",status="200"}' in response.text
    assert "gateway_request_duration_seconds_bucket" in response.text
    assert "gateway_inference_round_trip_seconds_count" in response.text
