"""Stop the MLflow server (registry and artifact proxy): inference keeps serving the last good model while /ready
reports the degraded registry; a training job fails with a clear reason and registers nothing; once MLflow is back
on the same port and store, /ready clears and a new job trains and registers."""

from __future__ import annotations

import time

import httpx
import pytest
import redis
from mlflow import MlflowClient

from local_stack.processes import start_service, wait_until
from shared.celery_config import TRAINING_QUEUE
from shared.settings import ServiceSettings
from tests.conftest import ADMIN_KEY, TINY_LSTM_PARAMS
from tests.reliability.conftest import FaultStack, record_fault, serve

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ADMIN = {"X-API-Key": ADMIN_KEY}
# The MLflow client retries a refused connection for ~4 minutes by default (7 retries, backoff 2). Workers run
# with one quick retry: a failed job shows within seconds, and the inference worker's alias check (made on its
# heartbeat thread) returns before its heartbeat goes stale. With the default, that check blocks the heartbeat
# for minutes and the gateway sees no worker at all: a deployment must set these (see docs/reliability.md).
QUICK_MLFLOW_FAILURE = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}


def registered_versions(tracking_uri: str) -> int:
    name = ServiceSettings().lstm_model_name
    return len(MlflowClient(tracking_uri).search_model_versions(f"name = '{name}'"))


def job_state(url: str, job_id: str) -> dict:
    return httpx.get(f"{url}/admin/training-jobs/{job_id}", headers=ADMIN, timeout=10).json()


def wait_job(url: str, job_id: str, timeout_s: float) -> dict:
    wait_until(lambda: job_state(url, job_id)["state"] in ("succeeded", "failed"), timeout_s, f"job {job_id}")
    return job_state(url, job_id)


def test_registry_down_serves_last_good_model_and_fails_jobs_cleanly(faults: FaultStack, fault_table) -> None:
    # Jobs queued by earlier tests on this Redis (fuzzed, or left queued on purpose) are not this test's to run.
    redis.Redis.from_url(faults.stack.redis_url).delete(TRAINING_QUEUE)
    served = serve(faults, "registry", worker_env={"ALIAS_POLL_INTERVAL_S": "1", **QUICK_MLFLOW_FAILURE})
    faults.service(
        start_service(
            "registry-training",
            ["training_worker", "worker"],
            faults.stack.env(**QUICK_MLFLOW_FAILURE),
            faults.stack.log_dir,
        )
    )
    serving_version = httpx.get(served.url + "/ready", timeout=10).json()["model_version"]
    versions_before = registered_versions(faults.stack.mlflow_url)
    sent = answered = explicit = 0

    faults.stop_mlflow()
    wait_until(
        lambda: httpx.get(served.url + "/ready", timeout=10).json().get("registry_ok") is False, 60, "registry degraded"
    )
    degraded = httpx.get(served.url + "/ready", timeout=10)
    assert degraded.status_code == 200, degraded.text  # still ready: it serves the last good model
    assert any("registry" in problem for problem in degraded.json()["problems"]), degraded.text
    for index in range(20):
        sent += 1
        answer = httpx.post(served.url + "/predict", json={"text": f"@united flight {index} was ok"}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["model_version"] == serving_version
        answered += 1

    sent += 1
    queued = httpx.post(
        served.url + "/admin/training-jobs",
        json={"family": "lstm", "params": TINY_LSTM_PARAMS},
        headers=ADMIN,
        timeout=30,
    )
    assert queued.status_code == 202, queued.text
    failed = wait_job(served.url, queued.json()["job_id"], 180)
    assert failed["state"] == "failed", failed
    assert failed["error"] and any(word in failed["error"].lower() for word in ("connect", "mlflow", "refused")), failed
    assert failed["model_version"] is None
    explicit += 1

    faults.start_mlflow()
    assert registered_versions(faults.stack.mlflow_url) == versions_before  # the failed job registered nothing
    wait_until(lambda: httpx.get(served.url + "/ready", timeout=10).json()["problems"] == [], 60, "registry back")

    sent += 1
    started = time.monotonic()
    retried = httpx.post(
        served.url + "/admin/training-jobs",
        json={"family": "lstm", "params": TINY_LSTM_PARAMS},
        headers=ADMIN,
        timeout=30,
    )
    succeeded = wait_job(served.url, retried.json()["job_id"], 300)
    assert succeeded["state"] == "succeeded", succeeded
    answered += 1
    assert registered_versions(faults.stack.mlflow_url) == versions_before + 1
    record_fault(
        fault_table,
        "MLflow registry/artifact store stopped, then restarted",
        sent,
        answered,
        explicit,
        sent - answered - explicit,
        f"served v{serving_version} throughout; job during outage failed: {failed['error'][:80]!r}; "
        f"job after recovery trained in {time.monotonic() - started:.0f} s",
    )
