"""Done when: through the HTTP API alone, three predictions flagged as wrong email a report within seconds."""

from __future__ import annotations

import time

import httpx
import pytest
import redis

from local_stack.processes import wait_until
from shared import redis_keys
from shared.schemas.base import new_id
from tests.conftest import ANALYST_KEY, SmtpSink, alerting_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TWEETS = [
    "@united you lost my luggage and nobody answers the phone",
    "@united thanks for the upgrade, the crew was lovely",
    "@united third delay this week, unbelievable",
]


def test_three_flags_through_the_api_email_a_report(
    ready_gateway: str, tiny_champion: dict, stack, smtp_server: SmtpSink, alerting_process
) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    group = f"alerting-e2e-{new_id()[:8]}"
    # A group of its own that starts at the stream's end: flags from other tests in this session stay out.
    env = alerting_env(stack.redis_url, smtp_server.port, CONSUMER_GROUP=group, GROUP_START_ID="$")
    process = alerting_process({**env, "MLFLOW_TRACKING_URI": stack.mlflow_url})
    wait_until(
        lambda: any(g["name"].decode() == group for g in client.xinfo_groups("events:mispredictions")),
        30,
        "alerting consumer group",
        process,
    )
    headers = {"X-API-Key": ANALYST_KEY}
    started = time.monotonic()
    for tweet in TWEETS:
        prediction = httpx.post(ready_gateway + "/predict", json={"text": tweet}, timeout=30)
        assert prediction.status_code == 200, prediction.text
        wrong = "negative" if prediction.json()["label"] == "positive" else "positive"
        flagged = httpx.post(
            ready_gateway + "/feedback",
            json={"prediction_id": prediction.json()["prediction_id"], "correct_label": wrong},
            headers=headers,
            timeout=10,
        )
        assert flagged.status_code == 201, flagged.text

    [message] = smtp_server.wait_for(1, timeout_s=15)
    elapsed = time.monotonic() - started
    version = tiny_champion["model_version"]
    assert message["Subject"] == f"[Air Paradis] 3 mispredictions within 5 min — air-paradis-lstm v{version}"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for tweet in TWEETS:
        assert tweet in text
    assert tiny_champion["run_id"] in html  # the link to the MLflow run that trained the model
    assert elapsed < 15

    overview = httpx.get(ready_gateway + "/alerts", headers=headers, timeout=10).json()
    assert [e["event"]["text"] for e in overview["events"][:3]] == TWEETS[::-1]
    wait_until(lambda: client.smembers(redis_keys.ALERT_REPORTS_UNSENT) == set(), 10, "report marked sent")
    overview = httpx.get(ready_gateway + "/alerts", headers=headers, timeout=10).json()
    [report] = [r for r in overview["reports"] if {e["text"] for e in r["events"]} == set(TWEETS)]
    assert report["state"] == "sent" and report["delivered_via"] == "smtp"
    assert report["models"][0]["run_url"].startswith(stack.mlflow_url)
    assert overview["alerting"]["threshold"] == 3
