"""The training worker and the alerting service export their own metrics, read from their real /metrics endpoints.

Training: a real Celery worker (prefork pool: the jobs run in a child, /metrics is served by the main process)
runs a tiny job that succeeds, refuses one whose dataset is outside its data directory, and has a slow one
cancelled by an admin while it runs (the gateway terminates its pool child). Alerting: a real alerting process
whose SMTP server is down at first, then up (aiosmtpd), sends one report for three flagged mispredictions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from local_stack.processes import ManagedProcess, free_port, http_ok, start_service, wait_until
from shared.celery_config import TRAIN_TASK, TRAINING_QUEUE, make_celery
from shared.events import MISPREDICTIONS_STREAM, publish
from shared.jobs import JobStore
from shared.schemas.base import new_id
from shared.schemas.events import MispredictionEvent
from tests.conftest import ADMIN_KEY, SmtpSink, Stack, alerting_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ADMIN = {"X-API-Key": ADMIN_KEY}
TINY_CLASSICAL = {
    "dataset": "bundled-airline",
    "max_rows": 200,
    "grid": "small",
    "cv_folds": 2,
    "vectorizers": ["bow"],
    "models": ["logreg"],
}
# Every model and vectorizer over the full grid on a few thousand tweets: a minute or more of fitting.
SLOW_CLASSICAL = {"dataset": "bundled", "max_rows": 6000, "grid": "default", "cv_folds": 3}


def scrape(port: int) -> dict[str, float]:
    """Every sample of a /metrics page, keyed `name{label="value",...}` with labels sorted (no labels: `name`)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{key}="{value}"' for key, value in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


# --- training worker ------------------------------------------------------------------------------------------------


def _post_job(gateway: str, params: dict) -> str:
    response = httpx.post(
        gateway + "/admin/training-jobs", json={"family": "classical", "params": params}, headers=ADMIN, timeout=30
    )
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def _state(gateway: str, job_id: str) -> str:
    response = httpx.get(f"{gateway}/admin/training-jobs/{job_id}", headers=ADMIN, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["state"]


def _wait_state(gateway: str, job_id: str, states: set[str], worker: ManagedProcess, timeout_s: float = 240) -> str:
    wait_until(lambda: _state(gateway, job_id) in states, timeout_s, f"job {job_id} {sorted(states)}", worker)
    return _state(gateway, job_id)


@pytest.fixture(scope="module")
def training_worker(stack: Stack) -> Iterator[tuple[ManagedProcess, int]]:
    port = free_port()
    env = stack.env(METRICS_PORT=str(port), JOB_LEASE_TTL_S="4", RECOVERY_INTERVAL_S="1")
    worker = start_service("training-worker-metrics", ["training_worker", "worker"], env, stack.log_dir)
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/metrics"), 120, "training worker /metrics", worker)
        yield worker, port
    finally:
        worker.stop(timeout_s=20)


def test_the_training_worker_counts_its_jobs_by_family_and_end(
    stack: Stack, gateway: str, training_worker: tuple[ManagedProcess, int]
) -> None:
    worker, port = training_worker
    before = scrape(port)
    # Every family's series exist before any job, at 0: a rate or an alert sees the first one.
    for family in ("classical", "lstm", "bert"):
        for state in ("started", "succeeded", "failed", "cancelled"):
            assert before[f'training_jobs_total{{family="{family}",state="{state}"}}'] == 0
        assert before[f'training_job_duration_seconds_count{{family="{family}",state="succeeded"}}'] == 0
        assert before[f'training_jobs_running{{family="{family}"}}'] == 0

    succeeded = _post_job(gateway, TINY_CLASSICAL)
    assert _wait_state(gateway, succeeded, {"succeeded", "failed"}, worker) == "succeeded"

    # Written straight to Redis (a tampered record): the worker refuses it before it starts.
    refused = JobStore(redis.Redis.from_url(stack.redis_url)).create(
        "classical", {"dataset": "/proc/self/environ"}, task_id=new_id()
    )
    make_celery("test", stack.redis_url).send_task(
        TRAIN_TASK, args=[refused.job_id], queue=TRAINING_QUEUE, task_id=refused.task_id
    )
    assert _wait_state(gateway, refused.job_id, {"succeeded", "failed"}, worker) == "failed"

    slow = _post_job(gateway, SLOW_CLASSICAL)
    assert _wait_state(gateway, slow, {"running", "succeeded", "failed"}, worker, 120) == "running"
    wait_until(lambda: scrape(port)['training_jobs_running{family="classical"}'] == 1, 30, "a job running", worker)
    time.sleep(2)  # into the fitting
    cancelled = httpx.delete(f"{gateway}/admin/training-jobs/{slow}", headers=ADMIN, timeout=10)
    assert cancelled.status_code == 200, cancelled.text
    # The terminated pool child never lowers its own gauge: the main process drops a dead process's live values.
    wait_until(lambda: scrape(port)['training_jobs_running{family="classical"}'] == 0, 30, "no job running", worker)
    wait_until(
        lambda: scrape(port)['training_jobs_total{family="classical",state="cancelled"}'] == 1, 30, "cancel counted"
    )

    after = scrape(port)
    counted = {
        state: after[f'training_jobs_total{{family="classical",state="{state}"}}']
        for state in ("started", "succeeded", "failed", "cancelled")
    }
    assert counted == {"started": 2, "succeeded": 1, "failed": 1, "cancelled": 1}, counted
    assert after['training_job_duration_seconds_count{family="classical",state="succeeded"}'] == 1
    assert after['training_job_duration_seconds_sum{family="classical",state="succeeded"}'] > 0
    assert after['training_jobs_total{family="lstm",state="started"}'] == 0
    assert worker.alive(), worker.tail()


# --- alerting -------------------------------------------------------------------------------------------------------


def _flag(client: redis.Redis, text: str) -> None:
    """What the gateway publishes when an analyst corrects a prediction."""
    event = MispredictionEvent(
        prediction_id=new_id(),
        feedback_id=new_id(),
        text=text,
        predicted_label="positive",
        probability_positive=0.83,
        correct_label="negative",
        model_name="air-paradis-lstm",
        model_version="7",
        analyst="analyst",
    )
    publish(client, MISPREDICTIONS_STREAM, event)


def test_alerting_counts_events_reports_sends_and_failed_sends(redis_server: tuple, alerting_process) -> None:
    # A database of its own on the session's Redis: no other test's events or reports.
    redis_url = redis_server[1].rsplit("/", 1)[0] + "/9"
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    smtp_port, metrics_port = free_port(), free_port()
    process = alerting_process(alerting_env(redis_url, smtp_port, METRICS_PORT=str(metrics_port)), "alerting-metrics")
    sink: SmtpSink | None = None
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{metrics_port}/metrics"), 30, "alerting /metrics", process)
        before = scrape(metrics_port)
        assert before['alerting_send_failures_total{via="smtp"}'] == 0
        assert before['alerting_reports_sent_total{via="smtp"}'] == 0

        for text in ("@united my bag is lost again", "@delta 4 hours on the tarmac", "@aa rebooked me again"):
            _flag(client, text)
        # Nothing listens on the SMTP port yet: the report is stored, and its sends fail until the server is up.
        wait_until(
            lambda: scrape(metrics_port)['alerting_send_failures_total{via="smtp"}'] >= 1, 30, "a failed send", process
        )
        sink = SmtpSink(smtp_port).start()
        sink.wait_for(1, timeout_s=30)
        wait_until(lambda: scrape(metrics_port)['alerting_reports_sent_total{via="smtp"}'] == 1, 10, "sent counted")
        after = scrape(metrics_port)
        assert after["alerting_events_read_total"] == 3
        assert after["alerting_reports_created_total"] == 1
        assert after['alerting_reports_sent_total{via="outbox"}'] == 0
        assert process.alive(), process.tail()
    finally:
        if sink is not None:
            sink.stop()
        client.flushdb()
        client.close()
