"""Alert -> retraining: flags through the API fire a report, and the report queues a training job through the job
store and the Celery queue an admin's request uses, unless the policy is off, paused or rate-limited; the email
says which."""

from __future__ import annotations

import json

import httpx
import pytest
import redis

from local_stack.processes import ManagedProcess, wait_until
from shared import redis_keys
from shared.celery_config import TRAINING_QUEUE
from shared.jobs import JobStore
from shared.schemas.base import new_id
from tests.conftest import ADMIN_KEY, ANALYST_KEY, TINY_LSTM_PARAMS, SmtpSink, alerting_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ADMIN = {"X-API-Key": ADMIN_KEY}
ANALYST = {"X-API-Key": ANALYST_KEY}


def _flag_three(gateway: str, tag: str) -> list[str]:
    """Three predictions flagged wrong through the API: a report's worth, three new corrections."""
    tweets = [
        f"@united {tag} lost my luggage and nobody answers",
        f"@united {tag} thanks for the upgrade, lovely crew",
        f"@united {tag} third delay this week",
    ]
    for tweet in tweets:
        prediction = httpx.post(gateway + "/predict", json={"text": tweet}, timeout=30)
        assert prediction.status_code == 200, prediction.text
        wrong = "negative" if prediction.json()["label"] == "positive" else "positive"
        flagged = httpx.post(
            gateway + "/feedback",
            json={"prediction_id": prediction.json()["prediction_id"], "correct_label": wrong},
            headers=ANALYST,
            timeout=10,
        )
        assert flagged.status_code == 201, flagged.text
    return tweets


def _report_of(client: redis.Redis, message) -> dict:
    return json.loads(client.get(redis_keys.alert_report(message["X-Air-Paradis-Report-Id"])))


def _jobs_of_report(client: redis.Redis, report_id: str) -> list:
    return [job for job in JobStore(client).list(1000) if job.triggered_by and job.triggered_by.report_id == report_id]


def _task_ids_in_queue(client: redis.Redis) -> set[str]:
    return {json.loads(raw)["headers"]["id"] for raw in client.lrange(TRAINING_QUEUE, 0, -1)}


def _drop_from_queue(client: redis.Redis, task_id: str | None) -> None:
    """A cancelled job's message stays queued until a worker discards it; no worker runs here, so remove it, as later
    tests expect an empty training queue."""
    for raw in client.lrange(TRAINING_QUEUE, 0, -1):
        if json.loads(raw)["headers"]["id"] == task_id:
            client.lrem(TRAINING_QUEUE, 0, raw)


@pytest.fixture
def clean_policy(stack) -> redis.Redis:
    """No pause, no earlier automatic job, and every correction made so far counted as if a job had used it."""
    client = redis.Redis.from_url(stack.redis_url)
    client.delete(
        redis_keys.RETRAINING_PAUSE,
        redis_keys.RETRAINING_LAST_JOB,
        redis_keys.RETRAINING_SLOT,
        redis_keys.RETRAINING_COUNTED_CORRECTIONS,
    )
    existing = client.hkeys(redis_keys.FEEDBACK_CORRECTIONS)
    if existing:
        client.sadd(redis_keys.RETRAINING_COUNTED_CORRECTIONS, *existing)
    yield client
    client.delete(redis_keys.RETRAINING_PAUSE, redis_keys.RETRAINING_SLOT)


def _start_alerting(stack, smtp: SmtpSink, alerting_process, client: redis.Redis, **policy: str) -> ManagedProcess:
    group = f"alerting-retrain-{new_id()[:8]}"
    env = alerting_env(stack.redis_url, smtp.port, CONSUMER_GROUP=group, GROUP_START_ID="$", **policy)
    process = alerting_process(env)
    wait_until(
        lambda: any(g["name"].decode() == group for g in client.xinfo_groups("events:mispredictions")),
        30,
        "alerting consumer group",
        process,
    )
    return process


def test_a_report_queues_one_job_unless_paused_or_rate_limited(
    ready_gateway: str, stack, smtp_server: SmtpSink, alerting_process, clean_policy: redis.Redis
) -> None:
    client = clean_policy
    params = {key: TINY_LSTM_PARAMS[key] for key in ("max_rows", "epochs", "embedding_dim", "lstm_units")}
    process = _start_alerting(
        stack,
        smtp_server,
        alerting_process,
        client,
        RETRAINING_POLICY="on",
        RETRAINING_MIN_INTERVAL_H="1",
        RETRAINING_MIN_NEW_CORRECTIONS="3",
        RETRAINING_PARAMS=json.dumps(params),
        GATEWAY_URL=ready_gateway,
    )

    # Paused by an admin: the report goes out, no job is queued, and the email says why.
    paused = httpx.post(ready_gateway + "/admin/retraining-policy", json={"paused": True}, headers=ADMIN, timeout=10)
    assert paused.status_code == 200, paused.text
    assert paused.json()["paused"] is True and paused.json()["paused_by"] == "admin"
    _flag_three(ready_gateway, "paused")
    [first] = smtp_server.wait_for(1)
    text = first.get_body(("plain",)).get_content()
    assert "Retraining: no job queued: the retraining policy is paused (by admin" in text
    assert _jobs_of_report(client, first["X-Air-Paradis-Report-Id"]) == []

    # Resumed: the next report queues one LSTM job with the feedback included, triggered by that report.
    resumed = httpx.post(ready_gateway + "/admin/retraining-policy", json={"paused": False}, headers=ADMIN, timeout=10)
    assert resumed.json()["paused"] is False
    assert resumed.json()["new_corrections"] == 3  # the paused report's three still count: no job used them
    _flag_three(ready_gateway, "resumed")
    [_, second] = smtp_server.wait_for(2)
    report_id = second["X-Air-Paradis-Report-Id"]
    [job] = _jobs_of_report(client, report_id)
    assert job.family == "lstm" and job.params == {**params, "include_feedback": True}
    assert job.triggered_by.kind == "alert" and job.triggered_by.by == "alerting"
    assert job.task_id in _task_ids_in_queue(client)  # on the training queue an admin's job goes to
    job_url = f"{ready_gateway}/admin/training-jobs/{job.job_id}"
    second_text = second.get_body(("plain",)).get_content()
    assert f"Retraining: queued lstm job {job.job_id}, analysts' corrections included (6 new" in second_text
    assert f'href="{job_url}"' in second.get_body(("html",)).get_content()
    assert _report_of(client, second)["retraining"]["job_id"] == job.job_id
    followed = httpx.get(job_url, headers=ADMIN, timeout=10)
    assert followed.status_code == 200 and followed.json()["triggered_by"]["report_id"] == report_id

    # Within the hour: three more corrections, another report, no second job.
    _flag_three(ready_gateway, "limited")
    [*_, third] = smtp_server.wait_for(3)
    assert "at most one per 1 h (RETRAINING_MIN_INTERVAL_H)" in third.get_body(("plain",)).get_content()
    assert _jobs_of_report(client, third["X-Air-Paradis-Report-Id"]) == []
    assert [j.job_id for j in JobStore(client).list(1000) if j.triggered_by and j.triggered_by.kind == "alert"] == [
        job.job_id
    ]

    view = httpx.get(ready_gateway + "/admin/retraining-policy", headers=ADMIN, timeout=10).json()
    assert view["policy"]["enabled"] is True and view["policy"]["min_interval_h"] == 1
    assert view["last_automatic_job"] == {
        "job_id": job.job_id,
        "report_id": report_id,
        "family": "lstm",
        "queued_at": view["last_automatic_job"]["queued_at"],
    }
    assert view["new_corrections"] == 3 and view["next_possible_at"] > view["last_automatic_job"]["queued_at"]
    assert process.alive()
    # Nothing in this session's later tests trains it.
    assert httpx.delete(job_url, headers=ADMIN, timeout=10).status_code == 200
    _drop_from_queue(client, job.task_id)


def test_with_the_policy_off_a_report_queues_nothing(
    ready_gateway: str, stack, smtp_server: SmtpSink, alerting_process, clean_policy: redis.Redis
) -> None:
    client = clean_policy
    jobs_before = {job.job_id for job in JobStore(client).list(1000)}
    _start_alerting(stack, smtp_server, alerting_process, client, RETRAINING_MIN_NEW_CORRECTIONS="0")
    _flag_three(ready_gateway, "off")
    [message] = smtp_server.wait_for(1)
    text = message.get_body(("plain",)).get_content()
    assert "Retraining: no job queued: the retraining policy is off (RETRAINING_POLICY=off)." in text
    assert {job.job_id for job in JobStore(client).list(1000)} == jobs_before
    view = httpx.get(ready_gateway + "/admin/retraining-policy", headers=ADMIN, timeout=10).json()
    assert view["policy"]["enabled"] is False and view["last_automatic_job"] is None


def test_the_policy_routes_are_for_admins(ready_gateway: str) -> None:
    assert httpx.get(ready_gateway + "/admin/retraining-policy", timeout=10).status_code == 401
    analyst = httpx.post(ready_gateway + "/admin/retraining-policy", json={"paused": True}, headers=ANALYST, timeout=10)
    assert analyst.status_code == 403
    wrong = httpx.post(ready_gateway + "/admin/retraining-policy", json={"pause": True}, headers=ADMIN, timeout=10)
    assert wrong.status_code == 422 and "paused" in wrong.text


def test_a_job_an_admin_queues_names_the_admin(ready_gateway: str, stack) -> None:
    queued = httpx.post(
        ready_gateway + "/admin/training-jobs",
        json={"family": "classical", "params": {"max_rows": 200, "models": ["logreg"], "vectorizers": ["bow"]}},
        headers=ADMIN,
        timeout=10,
    )
    assert queued.status_code == 202, queued.text
    job = queued.json()
    assert job["triggered_by"] == {"kind": "admin", "by": "admin", "report_id": None}
    client = redis.Redis.from_url(stack.redis_url)
    assert job["task_id"] in _task_ids_in_queue(client)
    assert (
        httpx.delete(f"{ready_gateway}/admin/training-jobs/{job['job_id']}", headers=ADMIN, timeout=10).status_code
        == 200
    )
    _drop_from_queue(client, job["task_id"])
