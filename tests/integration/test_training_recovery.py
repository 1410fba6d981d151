"""Job leases and the orphaned-job sweep against a real Redis: a dead worker's job is re-queued, then failed."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from shared import redis_keys
from shared.jobs import JobStore
from shared.schemas import JobState
from training_worker.leases import JobLease, lease_holder, recover_orphaned_jobs

pytestmark = [pytest.mark.integration]


@pytest.fixture
def client(redis_server) -> Iterator[redis.Redis]:
    # A database of its own: the sweep reads every job, and other tests' jobs live in database 0.
    connection = redis.Redis.from_url(redis_server[1].rsplit("/", 1)[0] + "/7")
    connection.flushdb()
    yield connection
    connection.flushdb()


def _running_job(store: JobStore, attempts: int) -> str:
    job = store.create("classical", {"dataset": "bundled"})
    store.update(job.job_id, state=JobState.running, attempts=attempts)
    return job.job_id


def test_a_lease_is_exclusive_refreshed_and_released(client: redis.Redis) -> None:
    first, second = JobLease(client, "job-a", ttl_s=2), JobLease(client, "job-a", ttl_s=2)
    assert first.acquire()
    assert not second.acquire()
    time.sleep(2.5)  # longer than the TTL: only the refresh thread keeps it alive
    assert lease_holder(client, "job-a") is not None
    first.release()
    assert lease_holder(client, "job-a") is None
    assert second.acquire()
    second.release()


def test_orphaned_jobs_are_requeued_then_failed_and_live_ones_left_alone(client: redis.Redis) -> None:
    store = JobStore(client)
    first_try = _running_job(store, attempts=1)
    second_try = _running_job(store, attempts=2)
    alive = _running_job(store, attempts=1)
    lease = JobLease(client, alive, ttl_s=30)
    assert lease.acquire()
    sent: list[str] = []
    try:
        handled = recover_orphaned_jobs(client, sent.append, max_attempts=2)
    finally:
        lease.release()
    assert sorted(handled) == sorted([first_try, second_try])
    assert sent == [first_try]
    requeued = store.get(first_try)
    assert requeued.state == JobState.queued and "re-queued" in requeued.progress_message
    failed = store.get(second_try)
    assert failed.state == JobState.failed and "stopped during this job 2 times" in failed.error
    assert store.get(alive).state == JobState.running


def test_only_one_worker_sweeps_at_a_time(client: redis.Redis) -> None:
    store = JobStore(client)
    orphan = _running_job(store, attempts=1)
    client.set(redis_keys.TRAINING_RECOVERY_LOCK, "other-worker", ex=30)
    assert recover_orphaned_jobs(client, lambda _: None, max_attempts=2) == []
    assert store.get(orphan).state == JobState.running
