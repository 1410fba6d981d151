"""Job leases and the recovery sweep against a real Redis: a dead worker's job is re-queued, then failed; a queued
job whose message was lost is sent again; a lease that expired is never taken back by its old holder."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from shared import redis_keys
from shared.celery_config import TRAIN_TASK, TRAINING_QUEUE, make_celery
from shared.jobs import JobStore
from shared.schemas.api import JobState
from shared.schemas.base import utc_now
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
    sent: list[tuple[str, str]] = []
    try:
        handled = recover_orphaned_jobs(client, lambda job_id, task_id: sent.append((job_id, task_id)), max_attempts=2)
    finally:
        lease.release()
    assert sorted(handled) == sorted([first_try, second_try])
    assert [job_id for job_id, _ in sent] == [first_try]
    requeued = store.get(first_try)
    assert requeued.state == JobState.queued and "re-queued" in requeued.progress_message
    assert requeued.task_id == sent[0][1]
    failed = store.get(second_try)
    assert failed.state == JobState.failed and "stopped during this job 2 times" in failed.error
    assert store.get(alive).state == JobState.running


def test_only_one_worker_sweeps_at_a_time(client: redis.Redis) -> None:
    store = JobStore(client)
    orphan = _running_job(store, attempts=1)
    client.set(redis_keys.TRAINING_RECOVERY_LOCK, "other-worker", ex=30)
    assert recover_orphaned_jobs(client, lambda *_: None, max_attempts=2) == []
    assert store.get(orphan).state == JobState.running


def test_a_lease_that_expired_and_was_taken_is_never_taken_back(client: redis.Redis) -> None:
    first = JobLease(client, "job-b", ttl_s=0.6)
    assert first.acquire()
    # The first holder stalls past its TTL (a long pause, a Redis blip): its claim expires and a second one takes it.
    client.delete(redis_keys.training_job_lease("job-b"))
    second = JobLease(client, "job-b", ttl_s=30)
    assert second.acquire()
    assert first.lost.wait(2), "the first holder never noticed it lost the lease"
    assert lease_holder(client, "job-b") == second.token
    assert not first.extend()
    first.release()  # must not delete the second holder's lease
    assert lease_holder(client, "job-b") == second.token
    second.release()
    assert lease_holder(client, "job-b") is None


def _age(store: JobStore, job_id: str, seconds: float) -> None:
    """Make the job look queued for `seconds` already (what a lost message looks like after a while)."""
    job = store.get(job_id)
    aged = job.model_copy(update={"updated_at": utc_now() - timedelta(seconds=seconds)})
    store._redis.set(redis_keys.training_job(job_id), aged.model_dump_json())


def test_a_queued_job_whose_message_was_lost_is_sent_again(client: redis.Redis) -> None:
    store = JobStore(client)
    celery = make_celery("test-gateway", _url(client))
    lost = store.create("classical", {"dataset": "bundled"}, task_id="lost-task")
    waiting = store.create("classical", {"dataset": "bundled"}, task_id="waiting-task")
    fresh = store.create("classical", {"dataset": "bundled"}, task_id="fresh-task")
    for job in (lost, waiting, fresh):
        celery.send_task(TRAIN_TASK, args=[job.job_id], queue=TRAINING_QUEUE, task_id=job.task_id)
    # The lost job's message is deleted from the queue; the fresh one's too, but it has not waited long enough.
    for raw in client.lrange(TRAINING_QUEUE, 0, -1):
        if lost.job_id.encode() in raw or fresh.job_id.encode() in raw:
            client.lrem(TRAINING_QUEUE, 1, raw)
    _age(store, lost.job_id, 120)
    _age(store, waiting.job_id, 120)
    sent: list[tuple[str, str]] = []

    def send(job_id: str, task_id: str) -> None:
        sent.append((job_id, task_id))

    assert recover_orphaned_jobs(client, send, max_attempts=2, queued_after_s=60) == [lost.job_id]
    assert [job_id for job_id, _ in sent] == [lost.job_id]
    again = store.get(lost.job_id)
    assert again.state == JobState.queued and again.task_id == sent[0][1] != "lost-task"
    assert "sent again" in again.progress_message
    # Sent again just now: the next sweep leaves it alone rather than sending it twice.
    assert recover_orphaned_jobs(client, send, max_attempts=2, queued_after_s=60) == []
    # Without a bound, queued jobs are never re-sent.
    _age(store, lost.job_id, 120)
    assert recover_orphaned_jobs(client, send, max_attempts=2) == []


def test_a_cancelled_job_is_neither_requeued_nor_resent(client: redis.Redis) -> None:
    store = JobStore(client)
    running = _running_job(store, attempts=1)
    queued = store.create("classical", {"dataset": "bundled"}).job_id
    _age(store, queued, 120)
    lease = JobLease(client, running, ttl_s=30)
    assert lease.acquire()
    assert store.cancel(running, "cancelled by a test")[0] == JobState.running
    assert store.cancel(queued, "cancelled by a test")[0] == JobState.queued
    assert lease_holder(client, running) is None  # released with the cancellation
    assert not lease.extend() and lease.lost.is_set()  # so its worker learns to stop
    lease.release()
    assert recover_orphaned_jobs(client, lambda *_: None, max_attempts=2, queued_after_s=60) == []
    assert {store.get(running).state, store.get(queued).state} == {JobState.cancelled}
    assert store.active() == []


def _url(client: redis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs['db']}"
