"""Training jobs kept in hand, against real gateway and training worker processes on a real Redis: data file paths
outside DATA_DIR refused before queueing (and by the worker), the queue capped, a lost message recovered, a running
job cancelled with its worker freed at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import redis

from local_stack.processes import ManagedProcess, start_service, wait_until
from shared import redis_keys
from shared.celery_config import TRAIN_TASK, TRAINING_QUEUE, make_celery
from shared.jobs import JobStore
from tests.conftest import ADMIN_KEY, ANALYST_KEY, Stack, start_gateway
from tests.priorities import autogroup_nice, tree_nice_values

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ADMIN = {"X-API-Key": ADMIN_KEY}
# A secret of the training worker's environment: what /proc/self/environ would hand out.
CANARY = "canary-secret-7f3e9a1c"
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


def _on_db(stack: Stack, db: int) -> Stack:
    return replace(stack, redis_url=stack.redis_url.rsplit("/", 1)[0] + f"/{db}")


def _post(gateway: str, family: str, params: dict) -> httpx.Response:
    return httpx.post(
        gateway + "/admin/training-jobs", json={"family": family, "params": params}, headers=ADMIN, timeout=30
    )


def _job(gateway: str, job_id: str) -> dict:
    response = httpx.get(f"{gateway}/admin/training-jobs/{job_id}", headers=ADMIN, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _wait_state(gateway: str, job_id: str, states: set[str], timeout_s: float, process: ManagedProcess) -> dict:
    wait_until(lambda: _job(gateway, job_id)["state"] in states, timeout_s, f"job {job_id} {states}", process)
    return _job(gateway, job_id)


def _start_worker(stack: Stack, name: str) -> ManagedProcess:
    env = stack.env(
        JOB_LEASE_TTL_S="4", RECOVERY_INTERVAL_S="1", QUEUED_JOB_RESEND_AFTER_S="3", TRAINING_CANARY_SECRET=CANARY
    )
    return start_service(name, ["training_worker", "worker"], env, stack.log_dir)


# --- data file paths ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "params", "field"),
    [
        ("classical", {"dataset": "/proc/self/environ"}, "params.dataset"),
        ("lstm", {"glove_path": "/dev/zero", "embedding": "glove"}, "params.glove_path"),
        ("classical", {"dataset": "../../proc/self/environ"}, "params.dataset"),
    ],
)
def test_data_files_outside_the_data_directory_are_refused_before_queueing(
    gateway: str, stack: Stack, family: str, params: dict, field: str
) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    jobs_before = client.zcard(redis_keys.TRAINING_JOBS_INDEX)
    queued_before = client.llen(TRAINING_QUEUE)
    response = _post(gateway, family, params)
    assert response.status_code == 422, response.text
    assert field in response.json()["message"] and "data directory" in response.json()["message"]
    assert client.zcard(redis_keys.TRAINING_JOBS_INDEX) == jobs_before
    assert client.llen(TRAINING_QUEUE) <= queued_before
    for secret in (ADMIN_KEY, ANALYST_KEY, "REDIS_URL"):
        assert secret not in response.text


@pytest.fixture(scope="module")
def control_stack(stack: Stack) -> Iterator[Stack]:
    """A Redis database of this module's own: its worker and jobs never meet the other modules' ones."""
    on_db = _on_db(stack, 5)
    client = redis.Redis.from_url(on_db.redis_url)
    client.flushdb()
    yield on_db
    client.flushdb()


@pytest.fixture(scope="module")
def control_gateway(control_stack: Stack) -> Iterator[str]:
    process, url = start_gateway(control_stack, name="gateway-job-control")
    yield url
    process.stop()


def test_a_job_that_reaches_the_worker_with_a_forbidden_path_fails_without_leaking(
    control_stack: Stack, control_gateway: str
) -> None:
    # Written straight to Redis, as an older gateway or a tampered record would: the worker checks again.
    client = redis.Redis.from_url(control_stack.redis_url)
    store = JobStore(client)
    jobs = [
        store.create("classical", {"dataset": "/proc/self/environ"}, task_id="forbidden-dataset"),
        store.create("lstm", {"embedding": "glove", "glove_path": "/dev/zero"}, task_id="forbidden-glove"),
    ]
    celery = make_celery("test", control_stack.redis_url)
    for job in jobs:
        celery.send_task(TRAIN_TASK, args=[job.job_id], queue=TRAINING_QUEUE, task_id=job.task_id)
    worker = _start_worker(control_stack, "training-worker-forbidden-paths")
    try:
        for job in jobs:
            done = _wait_state(control_gateway, job.job_id, {"succeeded", "failed"}, 120, worker)
            assert done["state"] == "failed" and done["attempts"] == 0, done
            assert "outside the" in done["error"] and "data directory" in done["error"], done["error"]
            assert CANARY not in done["error"] and control_stack.redis_url not in done["error"]
    finally:
        worker.stop(timeout_s=20)
    log = worker.log_path.read_text(errors="replace")
    assert "training job refused" in log
    assert CANARY not in log


# --- the queue cap --------------------------------------------------------------------------------------------------


def test_the_queue_is_capped_per_family_and_in_all_with_a_429(stack: Stack) -> None:
    capped = _on_db(stack, 4)  # no training worker reads this database: every job stays queued
    client = redis.Redis.from_url(capped.redis_url)
    client.flushdb()
    process, url = start_gateway(capped, name="gateway-capped", MAX_QUEUED_JOBS_PER_FAMILY="2", MAX_QUEUED_JOBS="3")
    try:
        first, second = (_post(url, "classical", TINY_CLASSICAL) for _ in range(2))
        assert (first.status_code, second.status_code) == (202, 202), first.text + second.text
        refused = _post(url, "classical", TINY_CLASSICAL)
        assert refused.status_code == 429, refused.text
        assert "2 classical training jobs are already queued (at most 2)" in refused.json()["detail"]
        assert _post(url, "lstm", {}).status_code == 202
        full = _post(url, "bert", {})
        assert full.status_code == 429 and "3 training jobs are already queued (at most 3)" in full.json()["detail"]
        assert client.zcard(redis_keys.TRAINING_JOBS_INDEX) == 3 and client.llen(TRAINING_QUEUE) == 3
        # A cancelled job no longer counts.
        cancelled = httpx.delete(f"{url}/admin/training-jobs/{first.json()['job_id']}", headers=ADMIN, timeout=10)
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled", cancelled.text
        assert _post(url, "classical", TINY_CLASSICAL).status_code == 202
    finally:
        process.stop()
        client.flushdb()


# --- lost messages and cancellation, with a real training worker ----------------------------------------------------


def test_a_queued_job_whose_message_was_deleted_is_recovered(control_stack: Stack, control_gateway: str) -> None:
    client = redis.Redis.from_url(control_stack.redis_url)
    queued = _post(control_gateway, "classical", TINY_CLASSICAL)
    assert queued.status_code == 202, queued.text
    job_id = queued.json()["job_id"]
    assert client.delete(TRAINING_QUEUE) == 1  # the message is gone before any worker saw it
    worker = _start_worker(control_stack, "training-worker-lost-message")
    try:
        done = _wait_state(control_gateway, job_id, {"succeeded", "failed"}, 240, worker)
    finally:
        worker.stop(timeout_s=20)
    assert done["state"] == "succeeded", done
    assert done["task_id"] != queued.json()["task_id"]  # it ran from the message the sweep sent again
    assert "lost queued job sent again" in worker.log_path.read_text(errors="replace")


def test_a_running_job_is_cancelled_and_its_worker_takes_the_next_job_at_once(
    control_stack: Stack, control_gateway: str
) -> None:
    client = redis.Redis.from_url(control_stack.redis_url)
    worker = _start_worker(control_stack, "training-worker-cancel")
    try:
        slow = _post(control_gateway, "classical", SLOW_CLASSICAL).json()
        running = _wait_state(control_gateway, slow["job_id"], {"running", "succeeded", "failed"}, 120, worker)
        assert running["state"] == "running", running
        time.sleep(3)  # well into the fitting, not merely started
        assert _job(control_gateway, slow["job_id"])["state"] == "running"
        assert client.get(redis_keys.training_job_lease(slow["job_id"])) is not None

        cancelled = httpx.delete(f"{control_gateway}/admin/training-jobs/{slow['job_id']}", headers=ADMIN, timeout=10)
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["state"] == "cancelled"
        assert client.get(redis_keys.training_job_lease(slow["job_id"])) is None
        again = httpx.delete(f"{control_gateway}/admin/training-jobs/{slow['job_id']}", headers=ADMIN, timeout=10)
        assert again.status_code == 409 and "already cancelled" in again.json()["detail"]
        missing = httpx.delete(f"{control_gateway}/admin/training-jobs/no-such-job", headers=ADMIN, timeout=10)
        assert missing.status_code == 404

        started = time.monotonic()
        following = _post(control_gateway, "classical", TINY_CLASSICAL).json()
        _wait_state(control_gateway, following["job_id"], {"running", "succeeded", "failed"}, 30, worker)
        freed_after_s = time.monotonic() - started
        done = _wait_state(control_gateway, following["job_id"], {"succeeded", "failed"}, 240, worker)
        assert done["state"] == "succeeded", done
        assert worker.alive(), worker.tail()
        # The cancelled job stayed cancelled: its worker process was stopped before it could write anything more.
        final = _job(control_gateway, slow["job_id"])
        assert final["state"] == "cancelled" and final["model_version"] is None, final
        print(f"next job running {freed_after_s:.1f} s after the cancellation")
        assert freed_after_s < 15, freed_after_s
    finally:
        worker.stop(timeout_s=20)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads thread priorities from Linux's /proc")
def test_a_training_job_runs_below_the_request_path(control_stack: Stack, control_gateway: str) -> None:
    """While it fits, every thread of the worker and of its pool process runs at TRAINING_WORKER_NICE, and so does
    the session it leads: a retraining job on the serving machine takes the CPU the request path leaves."""
    worker = _start_worker(control_stack, "training-worker-priority")
    try:
        slow = _post(control_gateway, "classical", SLOW_CLASSICAL).json()
        running = _wait_state(control_gateway, slow["job_id"], {"running", "succeeded", "failed"}, 120, worker)
        assert running["state"] == "running", running
        time.sleep(2)  # into the fitting, its threads started
        assert tree_nice_values(worker.pid) == {10}
        assert autogroup_nice(worker.pid) in (10, None)
        assert "nice=10" in worker.log_path.read_text()
        httpx.delete(f"{control_gateway}/admin/training-jobs/{slow['job_id']}", headers=ADMIN, timeout=10)
    finally:
        worker.stop(timeout_s=20)
