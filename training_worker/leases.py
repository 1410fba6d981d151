"""Job leases and recovery: a running job is held by a lease its worker keeps fresh; a job whose lease expired
(worker killed, out of memory, machine gone) is re-queued, or failed after MAX_ATTEMPTS, never left running; a job
left queued whose queue message was lost is sent again.

The lease is only ever extended or deleted by its holder (compare-and-extend, compare-and-delete in one Lua step), so
a worker whose lease expired and was taken by another learns it lost the job instead of taking it back."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from types import TracebackType

import redis

from shared import redis_keys
from shared.jobs import JobStateConflict, JobStore
from shared.logging_setup import kv
from shared.schemas.api import JobState
from shared.schemas.base import new_id, utc_now

log = logging.getLogger(__name__)

# Kombu's Redis transport keeps messages delivered to a consumer but not yet acknowledged in this hash.
BROKER_UNACKED_HASH = "unacked"

_EXTEND_IF_HELD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_DELETE_IF_HELD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobLease:
    """Claims a job for this process (SET NX) and extends the claim from a thread while it is still this one's."""

    def __init__(self, client: redis.Redis, job_id: str, ttl_s: float) -> None:
        self._redis = client
        self._key = redis_keys.training_job_lease(job_id)
        self._ttl_ms = max(int(ttl_s * 1000), 1)
        # Unique per claim, not per process: two claims in one process must not pass for each other.
        self._token = f"{worker_id()}:{uuid.uuid4().hex[:12]}"
        self._extend = client.register_script(_EXTEND_IF_HELD)
        self._delete = client.register_script(_DELETE_IF_HELD)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = threading.Event()
        self.job_id = job_id

    @property
    def token(self) -> str:
        return self._token

    def acquire(self) -> bool:
        if not self._redis.set(self._key, self._token, nx=True, px=self._ttl_ms):
            return False
        self._thread = threading.Thread(target=self._refresh, name=f"lease-{self.job_id}", daemon=True)
        self._thread.start()
        return True

    def extend(self) -> bool:
        """Push the expiry back by a TTL if the lease is still this claim's; marks it lost otherwise."""
        if self._extend(keys=[self._key], args=[self._token, self._ttl_ms]):
            return True
        if not self.lost.is_set():
            self.lost.set()
            log.error(
                "job lease lost %s",
                kv(job_id=self.job_id, lease=self._token, holder=lease_holder(self._redis, self.job_id)),
            )
        return False

    def _refresh(self) -> None:
        while not self._stop.wait(self._ttl_ms / 3000):
            try:
                if not self.extend():
                    return  # expired and maybe taken: never take it back
            except redis.RedisError as exc:  # a Redis blip must not kill the job; the next refresh retries
                log.warning("job lease refresh failed %s", kv(job_id=self.job_id, error=exc))

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self._delete(keys=[self._key], args=[self._token])
        except redis.RedisError as exc:
            log.warning("job lease release failed %s", kv(job_id=self.job_id, error=exc))

    def __enter__(self) -> JobLease:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.release()


def lease_holder(client: redis.Redis, job_id: str) -> str | None:
    raw = client.get(redis_keys.training_job_lease(job_id))
    return raw.decode() if isinstance(raw, bytes) else raw


def message_waiting(client: redis.Redis, queue: str, job_id: str) -> bool:
    """Whether a message for the job is still in the broker: waiting in the queue or delivered and not yet acked."""
    needle = job_id.encode()
    if any(needle in raw for raw in client.lrange(queue, 0, -1)):
        return True
    return any(needle in raw for raw in client.hvals(BROKER_UNACKED_HASH))


def recover_orphaned_jobs(
    client: redis.Redis,
    send: Callable[[str, str], None],
    max_attempts: int,
    lock_ttl_s: int = 30,
    queued_after_s: float | None = None,
    queue: str = "training",
) -> list[str]:
    """Re-queue (or fail, past `max_attempts`) every job marked running whose lease has expired, and send again
    every job queued for longer than `queued_after_s` whose message is no longer in the broker."""
    if not client.set(redis_keys.TRAINING_RECOVERY_LOCK, worker_id(), nx=True, ex=lock_ttl_s):
        return []  # another training worker is sweeping right now
    store = JobStore(client)
    handled = []
    try:
        for job in store.active():
            try:
                if job.state == JobState.running and lease_holder(client, job.job_id) is None:
                    _recover_running(store, send, job.job_id, job.attempts, max_attempts)
                elif job.state == JobState.queued and _lost_in_queue(client, queue, job, queued_after_s):
                    task_id = new_id()
                    store.update(
                        job.job_id,
                        expect={JobState.queued},
                        task_id=task_id,
                        progress_message="sent again: its queue message was lost",
                    )
                    send(job.job_id, task_id)
                    log.warning("lost queued job sent again %s", kv(job_id=job.job_id, task_id=task_id))
                else:
                    continue
            except JobStateConflict:
                continue  # a worker took it, or an admin cancelled it, while we looked
            handled.append(job.job_id)
    finally:
        client.delete(redis_keys.TRAINING_RECOVERY_LOCK)
    return handled


def _lost_in_queue(client: redis.Redis, queue: str, job, queued_after_s: float | None) -> bool:
    if queued_after_s is None or utc_now() - job.updated_at < timedelta(seconds=queued_after_s):
        return False  # young jobs are left alone: the gateway may not have sent the message yet
    return not message_waiting(client, queue, job.job_id)


def _recover_running(
    store: JobStore, send: Callable[[str, str], None], job_id: str, attempts: int, max_attempts: int
) -> None:
    if attempts >= max_attempts:
        store.mark_failed(
            job_id,
            f"the training worker stopped during this job {attempts} times "
            "(killed, out of memory or restarted); not retried",
            expect={JobState.running},
        )
        log.error("orphaned job failed %s", kv(job_id=job_id, attempts=attempts))
        return
    task_id = new_id()
    store.update(
        job_id,
        expect={JobState.running},
        state=JobState.queued,
        task_id=task_id,
        progress_message=f"re-queued: its training worker stopped during attempt {attempts}",
    )
    send(job_id, task_id)
    log.warning("orphaned job re-queued %s", kv(job_id=job_id, attempts=attempts, task_id=task_id))


class RecoveryLoop:
    """Runs `recover_orphaned_jobs` now and then every `interval_s`, in a daemon thread of the worker's main process."""

    def __init__(self, sweep: Callable[[], list[str]], interval_s: float) -> None:
        self._sweep = sweep
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="training-recovery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while True:
            try:
                self._sweep()
            except Exception:  # the loop must outlive a Redis outage
                log.exception("orphaned job sweep failed")
            if self._stop.wait(self._interval_s):
                return
