"""The training worker, the alerting service and the log writer export their own metrics, read from their real
/metrics endpoints.

Training: a real Celery worker (prefork pool: the jobs run in a child, /metrics is served by the main process)
runs a tiny job that succeeds, refuses one whose dataset is outside its data directory, and has a slow one
cancelled by an admin while it runs (the gateway terminates its pool child). Alerting: a real alerting process
whose SMTP server is down at first, then up (aiosmtpd), sends one report for three flagged mispredictions. Log
writer: a real log writer process writes predictions and a verdict from the stream into a SQLite log, deletes the
old ones (exported to CSV first), then fails its writes once the log's table is gone.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from local_stack.processes import ManagedProcess, free_port, http_ok, start_service, wait_until
from shared.celery_config import TRAIN_TASK, TRAINING_QUEUE, make_celery
from shared.events import MISPREDICTIONS_STREAM, publish
from shared.jobs import JobStore
from shared.redis_keys import PREDICTION_LOG_STREAM
from shared.schemas.base import new_id, utc_now
from shared.schemas.events import MispredictionEvent
from shared.schemas.prediction_log import FeedbackLogEntry, LoggedPredictionIn
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


# --- log writer -----------------------------------------------------------------------------------------------------


def _logged(prediction_id: str, created_at: float) -> dict:
    """One answered prediction as the gateway appends it to the log stream."""
    return {
        "prediction_id": prediction_id,
        "text": f"@united tweet {prediction_id}",
        "label": "positive",
        "probability_positive": 0.7,
        "threshold": 0.5,
        "model_name": "air-paradis-lstm",
        "model_version": "4",
        "request_id": new_id(),
        "caller": "analyst",
        "created_at": created_at,
    }


def test_the_log_writer_counts_rows_batches_failures_backlog_and_retention(
    redis_server: tuple, services_dir: Path, tmp_path: Path
) -> None:
    # A database of its own on the session's Redis: no other test's log entries.
    redis_url = redis_server[1].rsplit("/", 1)[0] + "/10"
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    database, port = tmp_path / "log.db", free_port()
    env = {
        "ENVIRONMENT": "test",
        "REDIS_URL": redis_url,
        "PREDICTION_LOG_URL": f"sqlite:///{database}",
        "METRICS_PORT": str(port),
        "LOG_READ_BLOCK_MS": "100",
        "PREDICTION_LOG_RETENTION_DAYS": "30",
        "PREDICTION_LOG_RETENTION_INTERVAL_S": "1",
        "PREDICTION_LOG_EXPORT_DIR": str(tmp_path / "exports"),
        "PYTHONUNBUFFERED": "1",
    }
    writer = start_service("log-writer-metrics", ["log_writer"], env, services_dir / "logs")
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/metrics"), 60, "log writer /metrics", writer)
        before = scrape(port)
        for kind in ("prediction", "feedback"):
            assert before[f'log_writer_rows_written_total{{kind="{kind}"}}'] == 0
        for action in ("exported", "deleted"):
            assert before[f'log_writer_retention_rows_total{{action="{action}"}}'] == 0
        assert before["log_writer_write_failures_total"] == 0

        now = time.time()
        recent = [_logged(new_id(), now) for _ in range(4)]
        old = [_logged(new_id(), now - 40 * 86400) for _ in range(2)]  # past the 30 days kept
        client.xadd(PREDICTION_LOG_STREAM, {"predictions": json.dumps(recent[:2] + old)})
        client.xadd(PREDICTION_LOG_STREAM, {"predictions": json.dumps(recent[2:])})
        verdict = FeedbackLogEntry(
            prediction=LoggedPredictionIn.model_validate(recent[0]),
            correct_label="negative",
            analyst="analyst",
            at=utc_now(),
        )
        client.xadd(PREDICTION_LOG_STREAM, {"feedback": verdict.model_dump_json()})
        wait_until(
            lambda: scrape(port)['log_writer_retention_rows_total{action="deleted"}'] == 2, 30, "retention", writer
        )
        after = scrape(port)
        assert after['log_writer_rows_written_total{kind="prediction"}'] == 6
        assert after['log_writer_rows_written_total{kind="feedback"}'] == 1
        assert after['log_writer_retention_rows_total{action="exported"}'] == 2
        assert after["log_writer_batches_total"] >= 1
        assert after["log_writer_batch_write_seconds_count"] == after["log_writer_batches_total"]
        assert after["log_writer_stream_entries_waiting"] == 0
        assert after["log_writer_write_failures_total"] == 0

        # The log loses its table: each write fails, the entry stays on the stream and the backlog shows it.
        with sqlite3.connect(database) as connection:
            connection.execute("DROP TABLE predictions")
        client.xadd(PREDICTION_LOG_STREAM, {"predictions": json.dumps([_logged(new_id(), time.time())])})
        wait_until(lambda: scrape(port)["log_writer_write_failures_total"] >= 2, 30, "failed writes", writer)
        failing = scrape(port)
        assert failing["log_writer_stream_entries_waiting"] == 1
        assert failing["log_writer_oldest_entry_age_seconds"] > 0
        assert failing['log_writer_rows_written_total{kind="prediction"}'] == 6
        assert writer.alive(), writer.tail()
    finally:
        writer.stop()
        client.flushdb()
        client.close()
