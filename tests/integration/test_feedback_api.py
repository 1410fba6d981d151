"""POST /feedback and GET /alerts on the real gateway process over a real Redis: auth, validation, idempotency."""

from __future__ import annotations

import json

import httpx
import pytest
import redis

from shared import redis_keys
from shared.events import FEEDBACK_STREAM, MISPREDICTIONS_STREAM, decode
from shared.schemas.events import MispredictionEvent
from tests.conftest import ADMIN_KEY, ANALYST_KEY
from tests.factories import make_prediction_record, store_prediction_record

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ANALYST = {"X-API-Key": ANALYST_KEY}


@pytest.fixture
def client(stack) -> redis.Redis:
    return redis.Redis.from_url(stack.redis_url)


def recorded_prediction(client: redis.Redis, text: str, label: str = "positive", probability: float = 0.9) -> str:
    """A prediction as the inference worker records it (the path itself is tested in test_predict_path)."""
    return store_prediction_record(client, make_prediction_record(text, label, probability_positive=probability))


def events_for(client: redis.Redis, prediction_id: str) -> list[MispredictionEvent]:
    events = [decode(fields, MispredictionEvent) for _, fields in client.xrange(MISPREDICTIONS_STREAM)]
    return [e for e in events if e.prediction_id == prediction_id]


def test_feedback_needs_an_api_key(gateway: str) -> None:
    body = {"prediction_id": "abc", "correct_label": "negative"}
    missing = httpx.post(gateway + "/feedback", json=body, timeout=10)
    assert missing.status_code == 401 and "X-API-Key" in missing.json()["detail"]
    wrong = httpx.post(gateway + "/feedback", json=body, headers={"X-API-Key": "nope"}, timeout=10)
    assert wrong.status_code == 401


def test_unknown_prediction_is_404_with_a_hint(gateway: str) -> None:
    response = httpx.post(
        gateway + "/feedback", json={"prediction_id": "no-such-id", "correct_label": "negative"}, headers=ANALYST
    )
    assert response.status_code == 404
    assert "prediction_id" in response.json()["detail"]


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"prediction_id": "x", "correct_label": "neutral"}, "correct_label"),
        ({"prediction_id": "x"}, "correct_label"),
        ({"correct_label": "negative"}, "prediction_id"),
        ({"prediction_id": "", "correct_label": "negative"}, "prediction_id"),
        ({"prediction_id": 12, "correct_label": "negative"}, "prediction_id"),
        ({"prediction_id": "x", "correct_label": "negative", "extra": 1}, "extra"),
    ],
)
def test_malformed_feedback_is_422_naming_the_field(gateway: str, payload: dict, fragment: str) -> None:
    response = httpx.post(gateway + "/feedback", json=payload, headers=ANALYST, timeout=10)
    assert response.status_code == 422
    assert fragment in response.json()["message"]


def test_a_wrong_prediction_raises_one_event_and_stores_the_correction(gateway: str, client: redis.Redis) -> None:
    prediction_id = recorded_prediction(client, "@united worst service ever", label="positive", probability=0.77)
    body = {"prediction_id": prediction_id, "correct_label": "negative", "comment": "sarcasm"}
    created = httpx.post(gateway + "/feedback", json=body, headers=ANALYST, timeout=10)
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["is_misprediction"] is True and record["predicted_label"] == "positive"
    assert record["analyst"] == "analyst" and record["comment"] == "sarcasm"
    [event] = events_for(client, prediction_id)
    assert (event.text, event.predicted_label, event.correct_label) == (
        "@united worst service ever",
        "positive",
        "negative",
    )
    assert (
        event.probability_positive == 0.77 and event.model_version == "1" and event.feedback_id == record["feedback_id"]
    )
    assert ANALYST_KEY not in event.model_dump_json()  # who flagged it, never their key
    correction = json.loads(client.hget(redis_keys.FEEDBACK_CORRECTIONS, prediction_id))
    assert correction == {"text": "@united worst service ever", "label": "negative"}

    # The same flag again: same feedback id, no second event.
    again = httpx.post(gateway + "/feedback", json=body, headers=ANALYST, timeout=10)
    assert again.status_code == 200 and again.json()["feedback_id"] == record["feedback_id"]
    assert len(events_for(client, prediction_id)) == 1


def test_a_changed_label_updates_the_same_feedback(gateway: str, client: redis.Redis) -> None:
    prediction_id = recorded_prediction(client, "@delta smooth flight, thanks", label="positive")
    agree = httpx.post(
        gateway + "/feedback", json={"prediction_id": prediction_id, "correct_label": "positive"}, headers=ANALYST
    )
    assert agree.status_code == 201 and agree.json()["is_misprediction"] is False
    assert events_for(client, prediction_id) == []  # a confirmed prediction alerts nobody
    assert client.hget(redis_keys.FEEDBACK_CORRECTIONS, prediction_id) is None

    changed = httpx.post(
        gateway + "/feedback",
        json={"prediction_id": prediction_id, "correct_label": "negative"},
        headers={"X-API-Key": ADMIN_KEY},
    )
    assert changed.status_code == 200
    assert changed.json()["feedback_id"] == agree.json()["feedback_id"]
    assert changed.json()["is_misprediction"] is True and changed.json()["analyst"] == "admin"
    [event] = events_for(client, prediction_id)
    assert event.analyst == "admin"

    back = httpx.post(
        gateway + "/feedback", json={"prediction_id": prediction_id, "correct_label": "positive"}, headers=ANALYST
    )
    assert back.status_code == 200 and back.json()["is_misprediction"] is False
    assert client.hget(redis_keys.FEEDBACK_CORRECTIONS, prediction_id) is None  # retraining no longer uses it
    feedback_log = [json.loads(f[b"data"])["prediction_id"] for _, f in client.xrange(FEEDBACK_STREAM)]
    assert feedback_log.count(prediction_id) == 3  # every change, for the audit trail


def test_alerts_lists_recent_events_newest_first(gateway: str, client: redis.Redis) -> None:
    assert httpx.get(gateway + "/alerts", timeout=10).status_code == 401
    ids = [recorded_prediction(client, f"@airline tweet number {n}") for n in range(2)]
    for prediction_id in ids:
        response = httpx.post(
            gateway + "/feedback", json={"prediction_id": prediction_id, "correct_label": "negative"}, headers=ANALYST
        )
        assert response.status_code == 201
    overview = httpx.get(gateway + "/alerts", params={"limit": 2}, headers=ANALYST, timeout=10)
    assert overview.status_code == 200, overview.text
    body = overview.json()
    assert [e["event"]["prediction_id"] for e in body["events"]] == ids[::-1]
    assert set(body) == {"events", "reports", "unsent_reports", "alerting"}
    assert httpx.get(gateway + "/alerts", params={"limit": 0}, headers=ANALYST).status_code == 422
